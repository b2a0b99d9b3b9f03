// Package opsenv is what the verbs that reach the cluster share (dlq,
// loadgen, produce, recon, topics; schemas reads LoadCommon): the cluster
// settings of pkg/config (environment, overridable with --brokers, --prefix
// and --registry), --output text|json, reaching the cluster with a one-line
// error when it does not answer, and JSON output.
package opsenv

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
)

// Env is a verb's connection and output settings.
type Env struct {
	Common  config.Common
	Output  string // text or json
	Timeout time.Duration

	brokers, prefix, registry string
	lookup                    func(string) (string, bool)
}

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
	c, err := LoadCommon(e.lookup, map[string]string{
		"ISTHMUS_KAFKA_BROKERS":       e.brokers,
		"ISTHMUS_TOPIC_PREFIX":        e.prefix,
		"ISTHMUS_SCHEMA_REGISTRY_URL": e.registry,
	})
	if err != nil {
		return nil, err
	}
	e.Common = c
	return pos, nil
}

// LoadCommon reads the common settings (pkg/config: brokers, TLS, SASL,
// registry auth and CA, Redis, prefix) from the environment (lookup, nil for
// os.LookupEnv), with the non-empty values of over on top (a verb's flags).
// Every verb connects with what it returns.
func LoadCommon(lookup func(string) (string, bool), over map[string]string) (config.Common, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var c config.Common
	set := config.NewSet("isthmus")
	c.Register(set, "isthmus-cli")
	err := set.Parse(nil, func(k string) (string, bool) {
		if v := over[k]; v != "" {
			return v, true
		}
		return lookup(k)
	}, io.Discard)
	return c, err
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

// ClusterErr turns a client error into one line: the setting to fix when
// TLS or SASL refused the connection, the brokers when they are unreachable
// (kafka.Config.Explain).
func (e *Env) ClusterErr(err error) error { return e.Common.Kafka.Explain(err) }

// Serde returns a serde on the configured registry.
func (e *Env) Serde(opts ...serde.Option) (*serde.Serde, error) {
	cl, err := e.Common.Registry.Client()
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
