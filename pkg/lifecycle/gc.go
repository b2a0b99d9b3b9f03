package lifecycle

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// GCTuned is implemented by a program's configuration when the program wants
// another garbage collector target than Go's default (GOGC=100): a
// latency-bound server such as the gateway trades memory for fewer
// collections, each of which adds to its tail latency.
type GCTuned interface {
	// GCPercent is the program's GOGC when the GOGC variable is unset.
	GCPercent() int
}

// Tuning is what TuneGC set for the process, as log attributes.
type Tuning struct {
	GCPercent   int   // the collector's target (GOGC); -1: off
	MemoryLimit int64 // soft memory limit in bytes; math.MaxInt64: none
	FromCgroup  bool  // MemoryLimit is derived from the container's limit
}

// cgroupShare is the part of a container's memory limit given to the Go
// heap's soft limit; the rest is for stacks, the runtime and what is outside
// the heap (mmap'ed files of an on-disk store, for one).
const cgroupShare = 0.9

// cgroupFiles are where the container's memory limit is read: cgroup v2,
// then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// TuneGC applies the process's garbage collector settings and returns them.
// GOGC and GOMEMLIMIT, when set, are Go's and win. Otherwise the GC percent
// is gcPercent (0: Go's default), and the soft memory limit is 90 % of the
// container's memory limit when the process runs under one, so the collector
// works harder as the process nears the limit instead of the kernel killing
// it. lifecycle.Main calls it for every program; a benchmark of a program
// run in-process calls it with the program's percent to measure the
// program as its process runs.
func TuneGC(gcPercent int) Tuning {
	if _, set := os.LookupEnv("GOGC"); !set && gcPercent > 0 {
		debug.SetGCPercent(gcPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if limit, ok := cgroupMemoryLimit(cgroupFiles); ok {
			debug.SetMemoryLimit(int64(float64(limit) * cgroupShare))
			return current(true)
		}
	}
	return current(false)
}

func current(fromCgroup bool) Tuning {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return Tuning{GCPercent: p, MemoryLimit: debug.SetMemoryLimit(-1), FromCgroup: fromCgroup}
}

// Attrs are t as log attributes.
func (t Tuning) Attrs() []any {
	limit := "none"
	if t.MemoryLimit != math.MaxInt64 {
		limit = strconv.FormatInt(t.MemoryLimit>>20, 10) + "MiB"
		if t.FromCgroup {
			limit += " (90% of the container's limit)"
		}
	}
	return []any{"gc_percent", t.GCPercent, "memory_limit", limit}
}

// cgroupMemoryLimit reads the first of files that holds a finite limit.
// "max" (v2) and the page-rounded huge value v1 writes for no limit are no
// limit.
func cgroupMemoryLimit(files []string) (int64, bool) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
