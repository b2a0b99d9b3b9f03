package flows

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/pkg/contracts"
)

func TestArgErrors(t *testing.T) {
	tests := []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"frobnicate"}, `unknown sub-verb "frobnicate"`, true},
		{[]string{"list", "orders"}, `unexpected argument "orders"`, true},
		{[]string{"set", "orders"}, "want a flow and a mode", true},
		{[]string{"set", "invoices", "shadow"}, `unknown flow "invoices"`, false},
		{[]string{"set", "orders", "sideways"}, `unknown mode "sideways"`, false},
		{[]string{"--output", "yaml"}, `--output "yaml"`, false},
		{[]string{"--api", "localhost"}, `--api "localhost"`, false},
		{[]string{"--api", "http://127.0.0.1:1"}, "ISTHMUS_OPERATOR_TOKEN is not set", false},
		{[]string{"set", "orders", "shadow", "--api", "http://127.0.0.1:1"}, "ISTHMUS_OPERATOR_TOKEN is not set", false},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := RunWith(context.Background(), tt.args, &out, &errb, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, cli.ErrUsage) != tt.usage {
			t.Errorf("%v: err = %v, want %q (usage %v)", tt.args, err, tt.want, tt.usage)
		}
	}
}

// An unreachable API is a one-line error naming it.
func TestUnreachable(t *testing.T) {
	env := map[string]string{"ISTHMUS_OPERATOR_TOKEN": "tok", "ISTHMUS_OPS_URL": "http://127.0.0.1:1"}
	for _, args := range [][]string{nil, {"set", "orders", "shadow", "--reason", "parity run"}} {
		var out, errb bytes.Buffer
		err := RunWith(context.Background(), append(args, "--timeout", "2s"), &out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err == nil || !strings.Contains(err.Error(), "operations API http://127.0.0.1:1 unreachable") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%v: err = %v", args, err)
		}
	}
}

func TestTable(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	err := Table(&b, []Flow{
		{Flow: "customers", Mode: "NEW", InForce: "NEW"},
		{Flow: "orders", Mode: "NEW", InForce: "SHADOW", Recorded: true, EffectiveAt: &at, ChangedBy: "cora", Reason: "cutover",
			History: []contracts.RoutingPeriod{{Mode: "SHADOW", EffectiveAt: at.Add(-time.Hour), ChangedBy: "cora"}}},
	})
	out := b.String()
	for _, want := range []string{"FLOW", "customers  NEW   NEW", "(no mode recorded: default)", "orders     NEW   SHADOW    2026-03-01T10:00:00Z  cora", "SHADOW from 2026-03-01T09:00:00Z"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("table lacks %q (%v):\n%s", want, err, out)
		}
	}
}
