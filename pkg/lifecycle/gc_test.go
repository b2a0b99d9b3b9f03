package lifecycle

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/isthmus/isthmus/pkg/config"
)

func TestCgroupMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name  string
		files []string
		want  int64
		ok    bool
	}{
		{"v2 limit", []string{write("v2", "268435456\n")}, 268435456, true},
		{"v2 no limit", []string{write("v2max", "max\n")}, 0, false},
		{"v1 limit after a missing v2", []string{filepath.Join(dir, "absent"), write("v1", "536870912\n")}, 536870912, true},
		{"v1 no limit", []string{write("v1max", "9223372036854771712\n")}, 0, false},
		{"garbage", []string{write("bad", "lots\n")}, 0, false},
		{"no cgroup", []string{filepath.Join(dir, "absent")}, 0, false},
	} {
		got, ok := cgroupMemoryLimit(c.files)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d %v, want %d %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	defer func(f []string) { cgroupFiles = f }(cgroupFiles)
	dir := t.TempDir()
	limitFile := filepath.Join(dir, "memory.max")
	if err := os.WriteFile(limitFile, []byte("104857600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cgroupFiles = []string{limitFile}

	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	got := TuneGC(300)
	if got.GCPercent != 300 || got.MemoryLimit != 94371840 || !got.FromCgroup {
		t.Fatalf("unset GOGC/GOMEMLIMIT in a 100 MiB container: %+v, want percent 300, limit 90 MiB from the cgroup", got)
	}

	// The operator's GOGC and GOMEMLIMIT win over the program's default and
	// the container's limit.
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "off")
	got = TuneGC(300)
	if got.GCPercent != 150 || got.MemoryLimit != math.MaxInt64 || got.FromCgroup {
		t.Fatalf("with GOGC and GOMEMLIMIT set: %+v, want them left alone", got)
	}
}

// gcProgram is a program configuration with its own GC percent.
type gcProgram struct{ config.Common }

func (c *gcProgram) Register(s *config.Set) { c.Common.Register(s, "gc-program") }
func (c *gcProgram) Base() *config.Common   { return &c.Common }
func (c *gcProgram) GCPercent() int         { return 250 }

// TestMainAppliesProgramGCPercent: lifecycle.Main applies a GCTuned
// program's percent before it runs the program.
func TestMainAppliesProgramGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	var during int
	code := MainArgs("gc-program", nil, io.Discard, &gcProgram{}, func(context.Context, *slog.Logger) error {
		during = debug.SetGCPercent(-1)
		debug.SetGCPercent(during)
		return nil
	})
	if code != 0 || during != 250 {
		t.Fatalf("exit %d, GC percent while running %d, want 0 and 250", code, during)
	}
}
