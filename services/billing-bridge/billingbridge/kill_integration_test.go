//go:build integration

package billingbridge_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/adapter"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/bridge"
	"github.com/isthmus/isthmus/services/billing-bridge/internal/contract"
)

// buildService builds the billing-bridge binary for subprocess tests.
func buildService(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "billing-bridge")
	cmd := exec.Command("go", "build", "-o", bin, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is one billing-bridge subprocess.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (h *harness) spawn(bin string, logf *os.File, extra map[string]string) *proc {
	h.t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = os.Environ()
	vars := h.env()
	for k, v := range extra {
		vars[k] = v
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start billing-bridge: %v", err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// expected runs the same deals through the domain and the adapter in
// process: the outputs the service must have written exactly once.
func expected(t *testing.T, deals map[string][]*contracts.Deal) (cmds map[string]int64, journals map[string]int64) {
	cmds, journals = map[string]int64{}, map[string]int64{}
	b := bridge.New()
	for id, ds := range deals {
		s := bridge.NewState(id)
		for _, v := range ds {
			d, err := adapter.Deal(v)
			if err != nil {
				t.Fatal(err)
			}
			out, err := b.ApplyDeal(s, d)
			if err != nil {
				t.Fatalf("%s seq %d: %v", id, d.Seq, err)
			}
			record(b, s, out, cmds, journals)
		}
		// The service's partitions go idle after the stream: their stream
		// time is the wall clock, and every recognition of a month opened
		// by now is sent.
		record(b, s, b.Release(s, contract.DateOf(time.Now())), cmds, journals)
	}
	return cmds, journals
}

func record(b *bridge.Bridge, s *bridge.State, out bridge.Outputs, cmds, journals map[string]int64) {
	m := adapter.Meta{EventID: func(int) string { return "" }}
	for _, r := range adapter.Records(b, s, out, m) {
		switch v := r.Value.(type) {
		case *contracts.BillingCommand:
			cmds[v.CommandID] = scheduleTotal(v)
		case *contracts.JournalCommand:
			dr, _ := journalAmount(v)
			journals[v.JournalCommandID] = dr
		}
	}
}

// dealStream is n contracts' deals (prefix-NNN): a NEW, an upsell AMEND
// and, for every third contract, a CANCEL, interleaved across contracts
// (round r sends every contract's r-th deal).
func dealStream(prefix string, n int) (deals map[string][]*contracts.Deal, stream []*contracts.Deal) {
	at := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	deals = map[string][]*contracts.Deal{}
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		ids[i] = id
		start := contract.NewDate(2025, time.Month(1+i%12), 1+i%28).String()
		ds := []*contracts.Deal{
			newDeal(id, start, int64(5+i%7), int64(999+i), at),
			amendDeal(id, 1, contract.ChangeUpsell, day(start).AddMonths(2).AddDays(i%20).String(), int64(20+i%7), int64(999+i), at.Add(time.Hour)),
		}
		if i%3 == 0 {
			ds = append(ds, cancelDeal(id, 2, day(start).AddMonths(7).AddDays(3).String(), at.Add(2*time.Hour)))
		}
		deals[id] = ds
	}
	for r := 0; r < 3; r++ {
		for _, id := range ids {
			if ds := deals[id]; r < len(ds) {
				stream = append(stream, ds[r])
			}
		}
	}
	return deals, stream
}

// TestKillRestart SIGKILLs the billing-bridge process several times while
// deals stream in, restarts it, and checks with a read_committed consumer
// that every billing command and journal command was written exactly once
// with the right amounts.
func TestKillRestart(t *testing.T) {
	h := newHarness(t)
	bin := buildService(t)
	logf, err := os.Create(filepath.Join(t.TempDir(), "service.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("service log:\n%s", tail(string(b), 8000))
		}
	})
	// A static member (a StatefulSet replica): the restarted process takes
	// the killed one's place at once, so the kills land while it processes
	// (a dynamic member waits out the dead one's session).
	extra := map[string]string{"ISTHMUS_INSTANCE_ID": "kill-0", "ISTHMUS_INSTANCE_STABLE": "true"}
	p := h.spawn(bin, logf, extra)
	t.Cleanup(func() { p.kill() })

	deals, stream := dealStream("K", 60)
	wantCmds, wantJournals := expected(t, deals)

	produced := make(chan struct{})
	go func() {
		defer close(produced)
		// Spread over about 12 s, so every incarnation has input to
		// process when it is killed.
		pause := 12 * time.Second / time.Duration(max(1, len(stream)/10))
		for i, d := range stream {
			h.in().Value(contracts.TopicCRMDealV1, d.ContractID, d)
			if i%10 == 9 {
				time.Sleep(pause)
			}
		}
	}()
	// Kill it mid-stream several times; the last incarnation finishes.
	midway, before := 0, 0
	for k := 0; k < 4; k++ {
		time.Sleep(time.Duration(1500+500*k) * time.Millisecond)
		p.kill()
		after := len(h.snapshot())
		if after > before {
			midway++
		}
		t.Logf("killed billing-bridge (pid %d) after %d outputs (%d from this incarnation)", p.cmd.Process.Pid, after, after-before)
		before = after
		p = h.spawn(bin, logf, extra)
	}
	if midway < 2 {
		t.Errorf("only %d of 4 kills hit an instance that had committed outputs: the test did not kill a processing instance", midway)
	}
	<-produced

	count := func(recs []got) (map[string]int, map[string]int) {
		c, j := map[string]int{}, map[string]int{}
		for _, r := range recs {
			switch v := r.Value.(type) {
			case *contracts.BillingCommand:
				c[v.CommandID]++
			case *contracts.JournalCommand:
				j[v.JournalCommandID]++
			}
		}
		return c, j
	}
	h.waitFor("every command and journal", 3*time.Minute, func(recs []got) bool {
		c, j := count(recs)
		return len(c) >= len(wantCmds) && len(j) >= len(wantJournals)
	})
	time.Sleep(3 * time.Second) // anything duplicated would show up by now
	recs := h.snapshot()
	c, j := count(recs)
	for id, n := range c {
		if n != 1 {
			t.Errorf("billing command %s written %d times", id, n)
		}
		if _, ok := wantCmds[id]; !ok {
			t.Errorf("unexpected billing command %s", id)
		}
	}
	for id, n := range j {
		if n != 1 {
			t.Errorf("journal command %s written %d times", id, n)
		}
		if _, ok := wantJournals[id]; !ok {
			t.Errorf("unexpected journal command %s", id)
		}
	}
	if len(c) != len(wantCmds) || len(j) != len(wantJournals) {
		t.Errorf("%d/%d billing commands, %d/%d journal commands", len(c), len(wantCmds), len(j), len(wantJournals))
	}
	for _, r := range recs {
		switch v := r.Value.(type) {
		case *contracts.BillingCommand:
			if got := scheduleTotal(v); got != wantCmds[v.CommandID] {
				t.Errorf("command %s schedules %d, want %d", v.CommandID, got, wantCmds[v.CommandID])
			}
		case *contracts.JournalCommand:
			if dr, cr := journalAmount(v); dr != wantJournals[v.JournalCommandID] || dr != cr {
				t.Errorf("journal %s: %d/%d, want %d", v.JournalCommandID, dr, cr, wantJournals[v.JournalCommandID])
			}
		case error:
			t.Errorf("undecodable output: %v", v)
		}
	}
	t.Logf("%d deals, %d billing commands, %d journal commands, each exactly once", len(stream), len(c), len(j))
}
