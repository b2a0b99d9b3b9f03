// Package loadgen is `isthmus loadgen --scenario X --rate N --duration D`:
// CRM traffic from the simulator's traffic generator produced to any
// cluster, with a progress line every few seconds and a final summary of
// the achieved rate and the errors.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// Summary is the final report.
type Summary struct {
	Scenario    string           `json:"scenario"`
	Seed        uint64           `json:"seed"`
	RunID       string           `json:"run_id"`
	TargetRate  float64          `json:"target_rate"`
	Generated   int64            `json:"generated"`
	Sent        int64            `json:"sent"`
	Errors      int64            `json:"errors"`
	AchievedPS  float64          `json:"achieved_rate"`
	ElapsedSec  float64          `json:"elapsed_seconds"`
	ByKind      map[string]int64 `json:"by_kind"`
	LastError   string           `json:"last_error,omitempty"`
	Interrupted bool             `json:"interrupted"`
}

// Options of one run.
type Options struct {
	Scenario      string
	Rate          float64
	Duration      time.Duration
	Seed          uint64
	RunID         string
	Every         time.Duration
	MinAccountAge time.Duration
}

// Validate checks the options.
func (o Options) Validate() error {
	if _, err := traffic.ParseScenario(o.Scenario); err != nil {
		return err
	}
	if o.Rate <= 0 {
		return fmt.Errorf("--rate must be > 0, got %g", o.Rate)
	}
	if o.Duration < 0 {
		return fmt.Errorf("--duration must be >= 0, got %s", o.Duration)
	}
	if o.Every <= 0 {
		return fmt.Errorf("--progress must be > 0, got %s", o.Every)
	}
	return nil
}

// Run is the verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var env opsenv.Env
	fs := opsenv.NewFlagSet("loadgen", `Usage: isthmus loadgen [--scenario S] [--rate N] [--duration D] [--seed N] [flags]
Produces realistic CRM traffic (accounts with duplicates and subsidiaries, contacts, accepted quotes,
subscription deals and amendments) to the cluster of ISTHMUS_KAFKA_BROKERS, Avro-encoded with the
registry of ISTHMUS_SCHEMA_REGISTRY_URL (schemas must be applied). Prints progress every few seconds
and a summary with the achieved rate and the errors; exits 1 when any record failed.`, stderr)
	env.Flags(fs)
	var o Options
	fs.StringVar(&o.Scenario, "scenario", "mixed", "manufacturer, saas or mixed")
	fs.Float64Var(&o.Rate, "rate", 10, "records per second")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "how long to run (0: until Ctrl-C)")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the generator (0: from the clock); the same seed gives the same traffic")
	fs.StringVar(&o.RunID, "run-id", "", "id namespace of this run (default: derived from the seed)")
	fs.DurationVar(&o.Every, "progress", 5*time.Second, "progress line interval")
	fs.DurationVar(&o.MinAccountAge, "min-account-age", 3*time.Second, "how old an account must be before quotes and deals name it")
	pos, err := env.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", pos[0])
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	cl, err := env.Connect(ctx, kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	sd, err := env.Serde()
	if err != nil {
		return err
	}
	sum, err := Generate(ctx, cl, traffic.NewProducer(cl, sd, env.Kafka()), o, stderr)
	if err != nil {
		return err
	}
	if env.JSON() {
		if err := opsenv.WriteJSON(stdout, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "scenario %s seed %d: %d sent, %d errors in %.1fs = %.1f records/s (target %.1f)\n",
			sum.Scenario, sum.Seed, sum.Sent, sum.Errors, sum.ElapsedSec, sum.AchievedPS, sum.TargetRate)
		fmt.Fprintf(stdout, "by kind: %s\n", kinds(sum.ByKind))
		if sum.LastError != "" {
			fmt.Fprintf(stdout, "last error: %s\n", sum.LastError)
		}
	}
	if sum.Errors > 0 {
		return fmt.Errorf("%d of %d records failed; last error: %s", sum.Errors, sum.Generated, sum.LastError)
	}
	return nil
}

func kinds(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// Generate drives the generator at the options' pace into prod, writing a
// progress line every o.Every to progress, and returns the summary after
// every record is acknowledged or failed.
func Generate(ctx context.Context, cl *kgo.Client, prod *traffic.Producer, o Options, progress io.Writer) (Summary, error) {
	gen, err := traffic.New(traffic.Scenario(o.Scenario), o.Seed, traffic.WithRunID(runID(o)), traffic.WithMinAccountAge(o.MinAccountAge))
	if err != nil {
		return Summary{}, err
	}
	start := time.Now()
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(o.Every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				st := prod.Stats()
				el := time.Since(start)
				fmt.Fprintf(progress, "%6.0fs  sent %d  errors %d  pending %d  %.1f/s\n", el.Seconds(), st.Sent, st.Errors, st.Pending, float64(st.Sent)/el.Seconds())
			}
		}
	}()
	n, err := traffic.Drive(ctx, gen, traffic.Pace{Rate: o.Rate, Duration: o.Duration}, func(ev traffic.Event) { prod.Produce(ctx, ev) })
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	ferr := cl.Flush(fctx)
	cancel()
	close(stop)
	<-finished
	if err != nil {
		return Summary{}, err
	}
	st := prod.Stats()
	el := time.Since(start)
	sum := Summary{Scenario: string(gen.Scenario()), Seed: o.Seed, RunID: runID(o), TargetRate: o.Rate, Generated: n, Sent: st.Sent,
		Errors: st.Errors + st.Pending, ElapsedSec: el.Seconds(), ByKind: st.ByKind, LastError: st.LastError, Interrupted: ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)}
	if el > 0 {
		sum.AchievedPS = float64(st.Sent) / el.Seconds()
	}
	if ferr != nil && sum.LastError == "" {
		sum.LastError = "flush: " + ferr.Error()
	}
	return sum, nil
}

func runID(o Options) string {
	if o.RunID != "" {
		return o.RunID
	}
	return fmt.Sprintf("%x", o.Seed%0xffffff)
}
