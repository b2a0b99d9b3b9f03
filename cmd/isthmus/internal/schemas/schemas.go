// Package schemas is `isthmus schemas apply|check`: register every topic's
// value schema under "<prefix><topic>-value" with the catalog's
// compatibility mode, and gate schema changes against what is registered or
// released.
package schemas

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	neturl "net/url"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/pkg/compat"
	"github.com/isthmus/isthmus/pkg/provision"
)

// Run dispatches the sub-verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return verbs.Run(ctx, args, stdout, stderr)
}

// verbs are the sub-verbs.
var verbs = cli.Dispatcher{Path: "isthmus schemas", Commands: []cli.Command{
	{Name: "apply", Summary: "register every topic value schema and set each subject's compatibility", Run: apply},
	{Name: "check", Summary: "check the schemas in the tree against every registered (or --against REF) version", Run: check},
}}

// common holds the flags both sub-verbs share.
type common struct {
	catalogDir string
	topics     topicList
	settings
}

type topicList []string

func (l *topicList) String() string     { return strings.Join(*l, ",") }
func (l *topicList) Set(v string) error { *l = append(*l, v); return nil }

func newFlags(name, usage string, stderr io.Writer, c *common) *flag.FlagSet {
	c.settings = fromEnv()
	fs := flag.NewFlagSet("schemas "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.catalogDir, "catalog", "", "schemas directory with topics.yaml (default: ./schemas when present, else the catalog built into the binary)")
	fs.Var(&c.topics, "topic", "only this topic (logical name; repeatable; default: every Avro topic)")
	fs.StringVar(&c.RegistryURL, "registry", c.RegistryURL, "schema registry URL(s), comma-separated (env ISTHMUS_SCHEMA_REGISTRY_URL)")
	fs.StringVar(&c.TopicPrefix, "prefix", c.TopicPrefix, "topic prefix (env ISTHMUS_TOPIC_PREFIX)")
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return nil
}

// registryErr turns a client error into one line, naming the registry when
// it cannot be reached.
func registryErr(url string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode >= 500 {
			return fmt.Errorf("schema registry %s answered %d: %s", url, re.StatusCode, re.Message)
		}
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ue *neturl.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("schema registry %s unreachable: %v", url, err)
}

func apply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	dry := false
	fs := newFlags("apply", "Usage: isthmus schemas apply [flags]\nRegisters every topic's value schema under <prefix><topic>-value and sets the subject's compatibility from the catalog.", stderr, &c)
	fs.BoolVar(&dry, "dry-run", false, "print what would be registered without changing the registry")
	if err := parse(fs, args); err != nil {
		return err
	}
	cat, err := provision.LoadCatalog(c.catalogDir)
	if err != nil {
		return err
	}
	topics, err := provision.SelectAvro(cat, c.topics)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	var failed []string
	for _, t := range topics {
		subject := c.TopicPrefix + t.Subject()
		line, err := provision.Schema(ctx, cl, subject, t, dry)
		if err != nil {
			if !isResponse(err) {
				return registryErr(c.RegistryURL, err)
			}
			fmt.Fprintf(stdout, "%-50s FAILED %s\n", subject, oneLine(err))
			failed = append(failed, fmt.Sprintf("%s: %s", subject, oneLine(err)))
			continue
		}
		fmt.Fprintf(stdout, "%-50s %s\n", subject, line)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d subjects failed; first: %s", len(failed), len(topics), failed[0])
	}
	return nil
}

func isResponse(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode < 500
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// transitive is the _TRANSITIVE form of a mode: check checks every version.
func transitive(m compat.Mode) compat.Mode {
	if m == compat.None || m.Transitive() {
		return m
	}
	return m + "_TRANSITIVE"
}

func check(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	against := ""
	fs := newFlags("check", "Usage: isthmus schemas check [--against GIT-REF] [flags]\n"+
		"Checks every topic value schema in the tree, under its subject's compatibility mode applied transitively,\n"+
		"against every version registered under <prefix><topic>-value, or with --against against the schemas at a git ref.", stderr, &c)
	fs.StringVar(&against, "against", "", "git ref (commit, branch, tag) whose schemas/ are the released versions; no registry is contacted")
	if err := parse(fs, args); err != nil {
		return err
	}
	cat, err := provision.LoadCatalog(c.catalogDir)
	if err != nil {
		return err
	}
	topics, err := provision.SelectAvro(cat, c.topics)
	if err != nil {
		return err
	}
	checker := compat.NewChecker()
	var failures []string
	report := func(subject string, err error, okLine string) {
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s\n", oneLine(err))
			failures = append(failures, oneLine(err))
			return
		}
		fmt.Fprintf(stdout, "ok   %s: %s\n", subject, okLine)
	}

	if against != "" {
		old, err := catalogAtRef(ctx, c.catalogDir, against)
		if err != nil {
			return err
		}
		if old == nil {
			fmt.Fprintf(stdout, "no schemas at %s: nothing to check against\n", against)
			return nil
		}
		for _, t := range topics {
			subject := c.TopicPrefix + t.Subject()
			prev, ok := old.Topic(t.Name)
			if !ok || !prev.IsAvro() {
				report(subject, nil, "new at this commit")
				continue
			}
			v := compat.Version{Version: 1, Label: "the schema at " + against, Schema: prev.Schema}
			err := checker.Check(subject, transitive(t.Compatibility), t.Schema, []compat.Version{v})
			report(subject, err, fmt.Sprintf("%s compatible with %s", transitive(t.Compatibility), against))
		}
		if len(c.topics) == 0 {
			for _, prev := range old.Topics() {
				if _, ok := cat.Topic(prev.Name); !ok && prev.IsAvro() {
					report("", fmt.Errorf("subject %s: topic %s exists at %s but was removed from the catalog (a released contract cannot be deleted; add a new version topic instead)", c.TopicPrefix+prev.Subject(), prev.Name, against), "")
				}
			}
		}
	} else {
		cl, err := c.client()
		if err != nil {
			return err
		}
		for _, t := range topics {
			subject := c.TopicPrefix + t.Subject()
			existing, err := registered(ctx, cl, subject)
			if err != nil {
				return registryErr(c.RegistryURL, err)
			}
			if len(existing) == 0 {
				report(subject, nil, "not registered yet")
				continue
			}
			err = checker.Check(subject, transitive(t.Compatibility), t.Schema, existing)
			report(subject, err, fmt.Sprintf("%s compatible with versions %s", transitive(t.Compatibility), versionList(existing)))
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d incompatible schema(s); first: %s", len(failures), failures[0])
	}
	return nil
}

// registered fetches every live version of subject, parsed.
func registered(ctx context.Context, cl *sr.Client, subject string) ([]compat.Version, error) {
	versions, err := cl.SubjectVersions(ctx, subject)
	if provision.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Ints(versions)
	var out []compat.Version
	for _, v := range versions {
		ss, err := cl.SchemaByVersion(ctx, subject, v)
		if err != nil {
			return nil, err
		}
		if ss.Type != sr.TypeAvro {
			return nil, fmt.Errorf("subject %s version %d is %s, not AVRO", subject, v, ss.Type)
		}
		parsed, err := compat.Parse(ss.Schema.Schema)
		if err != nil {
			return nil, fmt.Errorf("subject %s version %d does not parse: %v", subject, v, err)
		}
		out = append(out, compat.Version{Version: v, Schema: parsed})
	}
	return out, nil
}

func versionList(vs []compat.Version) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v.Version)
	}
	return strings.Join(s, ", ")
}
