// Package opsenv is what the operator verbs (dlq, exceptions, loadgen)
// share: the cluster settings of pkg/config (environment, overridable with
// --brokers, --prefix and --registry), --output text|json, reaching the
// cluster with a one-line error when it does not answer, and JSON output.
package opsenv

import (
	"context"
	"encoding/json"
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

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/service"
)

// Env is a verb's connection and output settings.
type Env struct {
	Common  config.Common
	Output  string // text or json
	Timeout time.Duration

	brokers, prefix, registry string
	lookup                    func(string) (string, bool)
}

// Lookup replaces os.LookupEnv (tests).
func (e *Env) Lookup(f func(string) (string, bool)) { e.lookup = f }

// Flags adds --brokers, --prefix, --registry, --output and --timeout.
func (e *Env) Flags(fs *flag.FlagSet) {
	fs.StringVar(&e.brokers, "brokers", "", "Kafka bootstrap brokers host:port,... (default: env ISTHMUS_KAFKA_BROKERS, then localhost:9092)")
	fs.StringVar(&e.prefix, "prefix", "", "topic prefix (default: env ISTHMUS_TOPIC_PREFIX)")
	fs.StringVar(&e.registry, "registry", "", "schema registry URL (default: env ISTHMUS_SCHEMA_REGISTRY_URL, then http://localhost:8081)")
	fs.StringVar(&e.Output, "output", "text", "output format: text or json")
	fs.DurationVar(&e.Timeout, "timeout", 15*time.Second, "give up when the cluster does not answer within this time")
}

// NewFlagSet returns a flag set whose --help prints usage and the flags.
func NewFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fmt.Fprintln(stderr, "\nFlags (TLS, SASL and registry credentials come from the ISTHMUS_* environment, see any service's --help):")
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args (interspersed positional arguments are allowed) into
// fs, then the environment into Common with the flags on top. It returns
// the positional arguments.
func (e *Env) Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, flag.ErrHelp
			}
			return nil, fmt.Errorf("%v (see --help)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if e.Output != "text" && e.Output != "json" {
		return nil, fmt.Errorf("--output %q: want text or json", e.Output)
	}
	lookup := e.lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	over := map[string]string{}
	if e.brokers != "" {
		over["ISTHMUS_KAFKA_BROKERS"] = e.brokers
	}
	if e.prefix != "" {
		over["ISTHMUS_TOPIC_PREFIX"] = e.prefix
	}
	if e.registry != "" {
		over["ISTHMUS_SCHEMA_REGISTRY_URL"] = e.registry
	}
	set := config.NewSet("isthmus")
	e.Common.Register(set, "isthmus-cli")
	err := set.Parse(nil, func(k string) (string, bool) {
		if v, ok := over[k]; ok {
			return v, true
		}
		return lookup(k)
	}, io.Discard)
	if err != nil {
		return nil, err
	}
	return pos, nil
}

// JSON reports whether --output json was asked for.
func (e *Env) JSON() bool { return e.Output == "json" }

// Client returns a Kafka client for the cluster.
func (e *Env) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return e.Common.Kafka.NewClient(append([]kgo.Opt{kgo.RetryTimeout(e.Timeout), kgo.DialTimeout(5 * time.Second)}, opts...)...)
}

// Connect returns a client whose cluster has answered within the timeout
// (the one way every verb connects: a clear one-line error when it cannot).
func (e *Env) Connect(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := e.Client(opts...)
	if err != nil {
		return nil, err
	}
	if err := e.Ping(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// Ping checks that the cluster answers within the timeout.
func (e *Env) Ping(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		return e.ClusterErr(err)
	}
	return nil
}

// ClusterErr names the brokers in an error that means they are unreachable.
func (e *Env) ClusterErr(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || strings.Contains(err.Error(), "dial") {
		return fmt.Errorf("kafka %s unreachable: %v", strings.Join(e.Common.Kafka.Brokers, ","), err)
	}
	return err
}

// Serde returns a serde on the configured registry.
func (e *Env) Serde(opts ...serde.Option) (*serde.Serde, error) {
	cl, err := service.RegistryClient(e.Common.Registry)
	if err != nil {
		return nil, err
	}
	return serde.New(cl, opts...), nil
}

// Kafka returns the cluster configuration (with the prefix).
func (e *Env) Kafka() kafka.Config { return e.Common.Kafka }

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
