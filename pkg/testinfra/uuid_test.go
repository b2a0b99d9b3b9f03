package testinfra

import (
	"regexp"
	"testing"
)

func TestUUID(t *testing.T) {
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := UUID(), UUID()
	if !v4.MatchString(a) || !v4.MatchString(b) {
		t.Errorf("%q, %q: not version 4 UUIDs", a, b)
	}
	if a == b {
		t.Errorf("two UUIDs are both %q", a)
	}
}
