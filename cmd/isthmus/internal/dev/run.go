package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/lifecycle"
)

// Default addresses of the embedded infrastructure (DESIGN.md §6).
const (
	embeddedKafka    = "127.0.0.1:9092"
	embeddedRegistry = "127.0.0.1:8081"
	embeddedRedis    = "127.0.0.1:6379"
)

func run(ctx context.Context, o Options, common *config.Common, log *slog.Logger, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	env := map[string]string{}
	var emb embedded
	defer emb.close()

	if envSet("ISTHMUS_KAFKA_BROKERS") {
		fmt.Fprintf(stdout, "kafka            %s (external)\n", strings.Join(common.Kafka.Brokers, ","))
	} else {
		c, err := startKafka(embeddedKafka, o.DataDir)
		if err != nil {
			return err
		}
		emb.kafka = c
		common.Kafka.Brokers = []string{embeddedKafka}
		env["ISTHMUS_KAFKA_BROKERS"] = embeddedKafka
		fmt.Fprintf(stdout, "kafka            %s (embedded kfake)\n", embeddedKafka)
	}
	if envSet("ISTHMUS_SCHEMA_REGISTRY_URL") {
		fmt.Fprintf(stdout, "schema registry  %s (external)\n", config.MaskURL(common.Registry.URL))
	} else {
		reg, ln, err := startRegistry(ctx, embeddedRegistry, o.DataDir, log.With("component", "schema-registry"))
		if err != nil {
			return err
		}
		emb.registry, emb.regLn = reg, ln
		common.Registry.URL = "http://" + embeddedRegistry
		env["ISTHMUS_SCHEMA_REGISTRY_URL"] = common.Registry.URL
		fmt.Fprintf(stdout, "schema registry  http://%s (embedded)\n", embeddedRegistry)
	}
	if envSet("ISTHMUS_REDIS_URL") {
		fmt.Fprintf(stdout, "redis            %s (external)\n", config.MaskURL(common.RedisURL))
	} else {
		m, err := startRedis(embeddedRedis)
		if err != nil {
			return err
		}
		emb.redis = m
		common.RedisURL = "redis://" + embeddedRedis + "/0"
		env["ISTHMUS_REDIS_URL"] = common.RedisURL
		fmt.Fprintf(stdout, "redis            %s (embedded)\n", common.RedisURL)
	}
	if err := provisionAll(ctx, common, log, stdout); err != nil {
		return err
	}
	comps, err := components(env, o)
	if err != nil {
		return err
	}
	var lc []lifecycle.Component
	for _, c := range comps {
		clog := log.With("service", c.name)
		lc = append(lc, lifecycle.Component{Name: c.name, Run: func(ctx context.Context) error { return c.run(ctx, clog) }})
		fmt.Fprintf(stdout, "%-16s http://%s/metrics  /readyz\n", c.name, c.admin)
	}
	lc = append(lc, lifecycle.Component{Name: "summary", Run: func(ctx context.Context) error {
		return summarize(ctx, common, stdout)
	}})
	fmt.Fprintln(stdout, "Ctrl-C stops everything cleanly.")
	err = lifecycle.Run(ctx, log, lc...)
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "isthmus dev: stopped cleanly")
	return nil
}

// configure parses a service's settings from the process environment with
// dev's overrides on top, so each service sees the embedded infrastructure
// and its own admin port.
func configure(c lifecycle.Configurable, name string, env map[string]string) error {
	s := config.NewSet(name)
	c.Register(s)
	lookup := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return lookupEnv(k)
	}
	if err := s.Parse(nil, lookup, io.Discard); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// adminAddr gives every service of the dev process its own admin port.
func adminAddr(i int) string { return net.JoinHostPort("127.0.0.1", fmt.Sprint(9464+i)) }

var _ = time.Second
