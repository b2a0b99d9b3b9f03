// Package dev is `isthmus dev`: the whole suite in one process. Unless real
// infrastructure is configured (ISTHMUS_KAFKA_BROKERS,
// ISTHMUS_SCHEMA_REGISTRY_URL, ISTHMUS_REDIS_URL), it starts an embedded
// Kafka-protocol broker, the development schema registry and a
// Redis-protocol store; then it applies the catalog's topics and schemas,
// runs every service entry, the ERP/CRM simulator with a traffic scenario,
// prints the URLs and a live summary line, and shuts everything down
// cleanly on Ctrl-C or after --duration.
package dev

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/lifecycle"
)

// Options are the flags of `isthmus dev`.
type Options struct {
	Scenario  string
	Rate      float64
	Duration  time.Duration
	NoTraffic bool
	DataDir   string
	LogFile   string
	// LegacyDir, when set, adds the legacy ERP adapter on this drop folder,
	// with the simulator playing the on-premise ERP at it.
	LegacyDir string
	// Addresses of the embedded infrastructure and the first admin port.
	KafkaAddr, RegistryAddr, RedisAddr string
	AdminBase                          int
}

// component is one service entry run by dev.
type component struct {
	name  string
	admin string
	cfg   lifecycle.Configurable
	run   func(ctx context.Context, log *slog.Logger) error
}

// Run is the verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o Options
	var common config.Common
	set := config.NewSet("isthmus dev")
	common.Register(set, "isthmus-dev")
	set.String(&o.Scenario, "ISTHMUS_DEV_SCENARIO", "mixed", "traffic scenario: manufacturer, saas or mixed")
	set.Float(&o.Rate, "ISTHMUS_DEV_RATE", 5, "simulated business events per second")
	set.Duration(&o.Duration, "ISTHMUS_DEV_DURATION", 0, "stop after this long (0: until Ctrl-C)")
	set.Bool(&o.NoTraffic, "ISTHMUS_DEV_NO_TRAFFIC", false, "start everything but generate no traffic")
	set.String(&o.DataDir, "ISTHMUS_DEV_DATA_DIR", "", "persist the embedded broker and registry here (empty: in memory)")
	set.String(&o.LogFile, "ISTHMUS_DEV_LOG_FILE", "isthmus-dev.log", "JSON logs of every component go here ('-' for stderr)")
	set.String(&o.LegacyDir, "ISTHMUS_DEV_LEGACY_DIR", "", "also run the legacy ERP adapter (legacy-bridge) on this drop folder, the simulator playing the on-premise ERP at it (docs/modernization.md)")
	set.String(&o.KafkaAddr, "ISTHMUS_DEV_KAFKA_ADDR", "127.0.0.1:9092", "listen address of the embedded Kafka-protocol broker")
	set.String(&o.RegistryAddr, "ISTHMUS_DEV_REGISTRY_ADDR", "127.0.0.1:8081", "listen address of the embedded schema registry")
	set.String(&o.RedisAddr, "ISTHMUS_DEV_REDIS_ADDR", "127.0.0.1:6379", "listen address of the embedded Redis-protocol store")
	set.Int(&o.AdminBase, "ISTHMUS_DEV_ADMIN_PORT", 9464, "admin port of the first service; the others follow", config.Between(1, 65000))
	// Short aliases matching the documented flags.
	args = aliases(args, map[string]string{"--scenario": "--dev-scenario", "--rate": "--dev-rate", "--duration": "--dev-duration",
		"--no-traffic": "--dev-no-traffic", "--data-dir": "--dev-data-dir", "--log-file": "--dev-log-file", "--legacy-dir": "--dev-legacy-dir"})
	if err := set.Parse(args, nil, stdout); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return flag.ErrHelp
		}
		return err
	}
	switch o.Scenario {
	case "manufacturer", "saas", "mixed":
	default:
		return fmt.Errorf("unknown scenario %q: use manufacturer, saas or mixed", o.Scenario)
	}
	logOut := stderr
	if o.LogFile != "-" {
		f, err := os.Create(o.LogFile)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	log, flush, err := lifecycle.Observe(ctx, "isthmus-dev", logOut, common.LogLevel)
	if err != nil {
		return err
	}
	defer flush()
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	return run(ctx, o, &common, log, stdout)
}

// aliases rewrites short flag names (--rate 5, --rate=5) to the settings'
// flag names.
func aliases(args []string, m map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		name, val, hasVal := strings.Cut(a, "=")
		if to, ok := m[name]; ok {
			a = to
			if hasVal {
				a += "=" + val
			}
		}
		out[i] = a
	}
	return out
}

func envSet(name string) bool { _, ok := os.LookupEnv(name); return ok }
