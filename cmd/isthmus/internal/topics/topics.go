// Package topics is `isthmus topics apply`: create or alter every topic in
// the catalog (partitions, cleanup.policy, retention.ms and the catalog's
// extra configs), idempotently, printing the plan first.
package topics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/provision"
)

// settings come from the environment here; pkg/config will provide them.
type settings struct {
	Brokers     string
	TopicPrefix string
}

func fromEnv() settings {
	return settings{Brokers: os.Getenv("ISTHMUS_KAFKA_BROKERS"), TopicPrefix: os.Getenv("ISTHMUS_TOPIC_PREFIX")}
}

// Run dispatches the sub-verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, "Usage: isthmus topics apply [flags]   (isthmus topics apply --help)")
		if len(args) == 0 {
			return errors.New("missing sub-verb: apply")
		}
		return nil
	}
	if args[0] != "apply" {
		return fmt.Errorf("unknown sub-verb %q (want apply)", args[0])
	}
	return apply(ctx, args[1:], stdout, stderr)
}

type topicList []string

func (l *topicList) String() string     { return strings.Join(*l, ",") }
func (l *topicList) Set(v string) error { *l = append(*l, v); return nil }

func apply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := fromEnv()
	fs := flag.NewFlagSet("topics apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: isthmus topics apply [--dry-run] [--catalog DIR] [flags]")
		fmt.Fprintln(stderr, "Creates missing topics and aligns partitions (increase only), cleanup.policy, retention.ms and extra configs with the catalog.")
		fs.PrintDefaults()
	}
	dry := fs.Bool("dry-run", false, "print the plan without changing the cluster")
	dir := fs.String("catalog", "", "schemas directory with topics.yaml (default: ./schemas when present, else the catalog built into the binary)")
	var only topicList
	fs.Var(&only, "topic", "only this topic (logical name; repeatable; default: every topic)")
	fs.StringVar(&s.Brokers, "brokers", s.Brokers, "Kafka bootstrap brokers host:port,... (env ISTHMUS_KAFKA_BROKERS)")
	fs.StringVar(&s.TopicPrefix, "prefix", s.TopicPrefix, "topic prefix (env ISTHMUS_TOPIC_PREFIX)")
	rf := fs.Int("replication-factor", -1, "replication factor of new topics (-1: the broker default)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when the cluster does not answer within this time")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if err := kafka.ValidPrefix(s.TopicPrefix); err != nil {
		return fmt.Errorf("topic prefix: %v", err)
	}
	cat, err := provision.LoadCatalog(*dir)
	if err != nil {
		return err
	}
	topics, err := provision.Select(cat, only)
	if err != nil {
		return err
	}
	brokers, err := kafka.ParseBrokers(s.Brokers)
	if err != nil {
		return fmt.Errorf("brokers (ISTHMUS_KAFKA_BROKERS or --brokers): %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RetryTimeout(*timeout))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	plan, err := provision.Topics(ctx, adm, s.TopicPrefix, topics, int16(*rf), *dry)
	for _, st := range plan {
		fmt.Fprintln(stdout, st.String())
	}
	if err != nil {
		return clusterErr(brokers, err)
	}
	if !*dry {
		fmt.Fprintf(stdout, "applied %d topic(s)\n", len(plan))
	}
	return nil
}

func clusterErr(brokers []string, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || strings.Contains(err.Error(), "unable to dial") {
		return fmt.Errorf("kafka %s unreachable: %v", strings.Join(brokers, ","), err)
	}
	return err
}
