package recon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/opsenv"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/schemaregistry"
	"github.com/isthmus/isthmus/pkg/serde"
)

// parityCluster is a cluster with recon.parity.v1 under prefix and a
// schema registry: kfake and the in-memory registry (newParityCluster) or
// the real ones (the integration test); add writes verdicts to it.
type parityCluster struct {
	t        *testing.T
	brokers  string
	registry string
	prefix   string
	cl       *kgo.Client
	sd       *serde.Serde
}

func connectParity(t *testing.T, brokers []string, registry, prefix string) *parityCluster {
	t.Helper()
	rc, err := sr.NewClient(sr.URLs(registry))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &parityCluster{t: t, brokers: strings.Join(brokers, ","), registry: registry, prefix: prefix, cl: cl, sd: serde.New(rc, serde.AutoRegister(true))}
}

func newParityCluster(t *testing.T) *parityCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "t."+contracts.TopicReconParityV1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg, err := schemaregistry.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return connectParity(t, c.ListenAddrs(), srv.URL, "t.")
}

func (pc *parityCluster) add(flow, entity, verdict string, at time.Time, diffs ...contracts.ParityDifference) {
	pc.t.Helper()
	if diffs == nil {
		diffs = []contracts.ParityDifference{}
	}
	p := &contracts.ParityResult{Metadata: contracts.EventMetadata{EventID: fmt.Sprintf("e-%s-%s-%d", entity, verdict, at.UnixNano()), CorrelationID: "c-" + entity,
		SourceSystem: contracts.SourceSystemReconciler, OccurredAt: at}, Flow: flow, EntityID: entity, Verdict: verdict, Differences: diffs, FirstSeenAt: at, DecidedAt: at}
	topic := pc.prefix + contracts.TopicReconParityV1
	b, err := pc.sd.Encode(context.Background(), topic, p)
	if err != nil {
		pc.t.Fatal(err)
	}
	if err := pc.cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(flowmode.ResultKey(flow, entity)), Value: b, Timestamp: at}).FirstErr(); err != nil {
		pc.t.Fatal(err)
	}
}

func (pc *parityCluster) run(args ...string) (string, error) {
	pc.t.Helper()
	var out, errb bytes.Buffer
	env := &opsenv.Env{}
	err := runParity(context.Background(), env, append([]string{"--brokers", pc.brokers, "--registry", pc.registry, "--prefix", pc.prefix, "--timeout", "5s"}, args...), &out, &errb)
	return out.String(), err
}

func notReady(err error) bool {
	var e *cli.ExitError
	return errors.As(err, &e) && e.Code == ExitNotReady
}

// Latest verdict per entity, the READY rule (enough compared, none
// DIFFERENT or MISSING) and its exit status, the differences capped with
// a count of the rest, --json, and the window.
func TestParityVerdict(t *testing.T) { checkParityVerdict(t, newParityCluster(t)) }

func checkParityVerdict(t *testing.T, pc *parityCluster) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	str := func(s string) *string { return &s }
	for i := range 3 {
		pc.add(flowmode.Orders, fmt.Sprintf("o-%d", i), contracts.ParityVerdictMatch, now.Add(-time.Hour))
	}
	// Outside the window: not counted.
	pc.add(flowmode.Orders, "o-old", contracts.ParityVerdictDifferent, now.Add(-48*time.Hour), contracts.ParityDifference{Field: "status", Legacy: str("A"), New: str("B")})
	// Another flow: not counted.
	pc.add(flowmode.Customers, "G-1", contracts.ParityVerdictMissingNew, now.Add(-time.Hour))

	out, err := pc.run("--flow", "orders", "--min-compared", "3")
	if err != nil || !strings.Contains(out, "compared 3  match 3  different 0  missing 0") || !strings.Contains(out, "READY for cutover") || strings.Contains(out, "NOT READY") {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	out, err = pc.run("--flow", "orders")
	if !notReady(err) || !strings.Contains(out, "NOT READY for cutover: only 3 compared, want at least 20") || !strings.Contains(err.Error(), "only 3 compared") {
		t.Fatalf("too few compared: %v\n%s", err, out)
	}

	// A later verdict replaces an entity's earlier one: o-1 differs now (a
	// later revision), o-2 misses the new path's answer.
	pc.add(flowmode.Orders, "o-1", contracts.ParityVerdictDifferent, now.Add(-30*time.Minute), contracts.ParityDifference{Field: "line[2].status", Legacy: str("REJECTED"), New: str("ACCEPTED")})
	pc.add(flowmode.Orders, "o-2", contracts.ParityVerdictMissingNew, now.Add(-30*time.Minute))
	out, err = pc.run("--flow", "orders", "--min-compared", "1", "--since", "24h")
	if !notReady(err) || !strings.Contains(out, "compared 3  match 1  different 1  missing 1 (new 1, legacy 0)") ||
		!strings.Contains(out, "NOT READY for cutover: 1 DIFFERENT; 1 MISSING (1 new, 0 legacy)") {
		t.Fatalf("differences: %v\n%s", err, out)
	}
	for _, want := range []string{"o-1     DIFFERENT    line[2].status  REJECTED", "o-2     MISSING_NEW  answer          answered  no answer within the window"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// More differences than the text shows: a count of the rest.
	var many []contracts.ParityDifference
	for i := range MaxDifferenceRows + 5 {
		many = append(many, contracts.ParityDifference{Field: fmt.Sprintf("fields.f%02d", i), Legacy: str("x")})
	}
	pc.add(flowmode.Orders, "o-many", contracts.ParityVerdictDifferent, now.Add(-time.Minute), many...)
	out, err = pc.run("--flow", "orders")
	if !notReady(err) || !strings.Contains(out, "… and 7 more (--json lists all)") {
		t.Fatalf("cap: %v\n%s", err, out)
	}
	out, err = pc.run("--flow", "orders", "--json")
	var rep ParityReport
	if !notReady(err) || json.Unmarshal([]byte(out), &rep) != nil || rep.Ready || rep.Compared != 4 || rep.Different != 2 || len(rep.Differences) != 2+MaxDifferenceRows+5 {
		t.Fatalf("--json: %v %+v\n%s", err, rep, out)
	}
}

func TestParityArgErrors(t *testing.T) {
	tests := []struct {
		args  []string
		want  string
		usage bool
	}{
		{nil, "--flow is required", true},
		{[]string{"--flow", "invoices"}, `unknown flow "invoices"`, false},
		{[]string{"--flow", "orders", "--since", "0s"}, "--since must be positive", true},
		{[]string{"--flow", "orders", "--min-compared", "-1"}, "--min-compared must not be negative", true},
		{[]string{"--flow", "orders", "extra"}, `unexpected argument "extra"`, true},
		{[]string{"--flow", "orders", "--brokers", "127.0.0.1:1", "--timeout", "2s"}, "kafka 127.0.0.1:1 unreachable", false},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := Run(context.Background(), append([]string{"parity"}, tt.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, cli.ErrUsage) != tt.usage || strings.Contains(err.Error(), "\n") || notReady(err) {
			t.Errorf("%v: err = %v, want %q (usage %v)", tt.args, err, tt.want, tt.usage)
		}
	}
}
