package testinfra

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
)

// Ports a test hands to a program it starts (a broker, `isthmus dev`) are
// probed and released, and the program binds them later. A port from the
// kernel's ephemeral range can be taken in between by any outgoing
// connection of any process on the machine (the suites open thousands), so
// these come from below that range, where only an explicit bind competes; a
// random base keeps concurrent test processes apart.

// lowestPort is where test ports start (well above the well-known and
// registered ports services on a developer's machine commonly use).
const lowestPort = 20000

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi); err == nil && lo > 0 {
			return lo
		}
	}
	return 32768 // Linux's default, and above most systems' registered ports
}

// FreePorts returns the first of n consecutive loopback ports that were all
// free a moment ago, from below the ephemeral range.
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	hi := ephemeralLow() - n
	if hi <= lowestPort {
		t.Fatalf("testinfra: the ephemeral port range starts at %d: no room for %d test ports below it", ephemeralLow(), n)
	}
	for range 200 {
		base := lowestPort + rand.IntN(hi-lowestPort)
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatalf("testinfra: no %d consecutive free ports in %d-%d", n, lowestPort, hi+n)
	return 0
}

// portsFree reports whether base … base+n-1 can all be bound on loopback.
func portsFree(base, n int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range n {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}

// FreeAddr returns a loopback host:port that was free a moment ago (see
// FreePorts).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePorts(t, 1))
}
