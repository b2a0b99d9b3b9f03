// Package topics is `isthmus topics apply`: create or alter every topic in
// the catalog (partitions, cleanup.policy, retention.ms and the catalog's
// extra configs), idempotently, printing the plan first.
package topics

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/provision"
)

// Run dispatches the sub-verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return verbs.Run(ctx, args, stdout, stderr)
}

// verbs are the sub-verbs.
var verbs = cli.Dispatcher{Path: "isthmus topics", Commands: []cli.Command{
	{Name: "apply", Summary: "create missing topics and align partitions and configs with the catalog", Run: apply},
}}

type topicList []string

func (l *topicList) String() string     { return strings.Join(*l, ",") }
func (l *topicList) Set(v string) error { *l = append(*l, v); return nil }

func apply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	fs := opsenv.NewFlagSet("topics apply", "Usage: isthmus topics apply [--dry-run] [--catalog DIR] [flags]\n"+
		"Creates missing topics and aligns partitions (increase only), cleanup.policy, retention.ms and extra configs with the catalog.", stderr)
	dry := fs.Bool("dry-run", false, "print the plan without changing the cluster")
	dir := fs.String("catalog", "", "schemas directory with topics.yaml (default: ./schemas when present, else the catalog built into the binary)")
	var only topicList
	fs.Var(&only, "topic", "only this topic (logical name; repeatable; default: every topic)")
	rf := fs.Int("replication-factor", -1, "replication factor of new topics (-1: the broker default)")
	env.Flags(fs)
	pos, err := env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", pos[0])
	}
	cat, err := provision.LoadCatalog(*dir)
	if err != nil {
		return err
	}
	topics, err := provision.Select(cat, only)
	if err != nil {
		return err
	}
	cl, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	prefix := env.Common.Kafka.TopicPrefix
	plan, err := provision.Topics(ctx, cl, prefix, topics, int16(*rf), *dry)
	for _, st := range plan {
		fmt.Fprintln(stdout, st.String())
	}
	if err != nil {
		return env.ClusterErr(err)
	}
	if !*dry {
		fmt.Fprintf(stdout, "applied %d topic(s)\n", len(plan))
	}
	return nil
}
