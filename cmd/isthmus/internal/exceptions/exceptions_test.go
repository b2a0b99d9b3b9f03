package exceptions

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
		{[]string{"close"}, `unknown sub-verb "close"`},
		{[]string{"show"}, "want exactly one exception id"},
		{[]string{"resolve", "a", "b"}, "want exactly one exception id"},
		{[]string{"resolve", "X", "--param", "novalue"}, "is not key=value"},
		{[]string{"retry", "X", "--action", "MERGE"}, "--action is for resolve"},
		{[]string{"approve"}, "want exactly one approval id"},
		{[]string{"list", "--queue", "legal"}, `--queue "legal"`},
		{[]string{"list", "--status", "done"}, `--status "done"`},
		{[]string{"list", "--limit", "0"}, `--limit 0`},
		{[]string{"list", "--output", "yaml"}, `--output "yaml"`},
		{[]string{"list", "--api", "localhost"}, `--api "localhost"`},
		{[]string{"list", "--api", "http://127.0.0.1:1"}, "ISTHMUS_OPERATOR_TOKEN is not set"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		err := RunWith(context.Background(), tt.args, &out, &errb, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}

// An unreachable API is a one-line error naming it.
func TestUnreachable(t *testing.T) {
	env := map[string]string{"ISTHMUS_OPERATOR_TOKEN": "tok", "ISTHMUS_OPS_URL": "http://127.0.0.1:1"}
	var out, errb bytes.Buffer
	err := RunWith(context.Background(), []string{"retry", "EX-1", "--timeout", "2s"}, &out, &errb, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "operations API http://127.0.0.1:1 unreachable") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
}
