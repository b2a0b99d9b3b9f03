package dlq

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestArgErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing sub-verb"},
		{[]string{"purge"}, `unknown sub-verb "purge"`},
		{[]string{"replay", "quote-to-order"}, "exactly one of --offset N and --all"},
		{[]string{"replay", "quote-to-order", "--offset", "3", "--all"}, "exactly one of --offset N and --all"},
		{[]string{"replay"}, "want exactly one DLQ topic"},
		{[]string{"replay", "quote-to-order", "--all", "--api", "ftp://x"}, `--api "ftp://x"`},
		{[]string{"replay", "quote-to-order", "--all", "--api", "http://127.0.0.1:1"}, "ISTHMUS_OPERATOR_TOKEN is not set"},
		{[]string{"show", "quote-to-order"}, "--offset is required"},
		{[]string{"show", "Not A Topic", "--offset", "1"}, "is not a DLQ topic"},
		{[]string{"list", "--output", "yaml"}, `--output "yaml"`},
		{[]string{"list", "--bogus"}, "flag provided but not defined"},
		{[]string{"list", "--brokers", "127.0.0.1:1", "--timeout", "2s"}, "kafka 127.0.0.1:1 unreachable"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := Run(context.Background(), tt.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
	var out, errb bytes.Buffer
	if err := Run(context.Background(), []string{"replay", "--help"}, &out, &errb); err == nil || !strings.Contains(errb.String(), "dlq-replayed-from") {
		t.Errorf("--help: %v %q", err, errb.String())
	}
}
