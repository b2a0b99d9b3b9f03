package loadgen

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
		{[]string{"--scenario", "retail"}, `unknown scenario "retail"`},
		{[]string{"--rate", "0"}, "--rate must be > 0"},
		{[]string{"--duration", "-1s"}, "--duration must be >= 0"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--output", "xml"}, `--output "xml"`},
		{[]string{"--brokers", "127.0.0.1:1", "--timeout", "2s", "--duration", "1s"}, "kafka 127.0.0.1:1 unreachable"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := Run(context.Background(), tt.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}
