package flowmode_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		mode          string
		legacy, newer flowmode.Role
	}{
		{contracts.RoutingModeLegacy, flowmode.Authoritative, flowmode.Off},
		{contracts.RoutingModeShadow, flowmode.Authoritative, flowmode.Shadow},
		{contracts.RoutingModeNew, flowmode.Off, flowmode.Authoritative},
		{contracts.RoutingModeUnknown, flowmode.Off, flowmode.Authoritative},
	} {
		if l, n := flowmode.RoleOf(c.mode, contracts.ErpPathLegacy), flowmode.RoleOf(c.mode, contracts.ErpPathNew); l != c.legacy || n != c.newer {
			t.Errorf("%s: legacy %s new %s, want %s %s", c.mode, l, n, c.legacy, c.newer)
		}
	}
}

// A schedule routes each instant by the period in force then, and keeps
// the earlier periods through later changes.
func TestNextAndSchedule(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if _, err := flowmode.Next(nil, flowmode.Change{Flow: "orders", Mode: "new", By: "ana"}, t0); err == nil || !strings.Contains(err.Error(), "already NEW") {
		t.Fatalf("NEW with no record: %v", err)
	}
	for _, bad := range []flowmode.Change{{Flow: "invoices", Mode: "legacy", By: "ana"}, {Flow: "orders", Mode: "sideways", By: "ana"}, {Flow: "orders", Mode: "legacy"}} {
		if _, err := flowmode.Next(nil, bad, t0); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	v1, err := flowmode.Next(nil, flowmode.Change{Flow: "orders", Mode: "legacy", By: "ana", Reason: " phase 1 "}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if v1.EffectiveAt != t0.Add(flowmode.DefaultLead) || *v1.Reason != "phase 1" || len(v1.History) != 0 {
		t.Fatalf("first record %+v", v1)
	}
	if _, err := flowmode.Next(&v1, flowmode.Change{Flow: "orders", Mode: "shadow", By: "ana"}, t0.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "not taken effect yet") {
		t.Fatalf("change before the last took effect: %v", err)
	}
	t1 := t0.Add(time.Hour)
	v2, err := flowmode.Next(&v1, flowmode.Change{Flow: "orders", Mode: "shadow", By: "bo", Lead: time.Minute}, t1)
	if err != nil {
		t.Fatal(err)
	}
	t2 := t1.Add(time.Hour)
	v3, err := flowmode.Next(&v2, flowmode.Change{Flow: "orders", Mode: "new", By: "cy"}, t2)
	if err != nil {
		t.Fatal(err)
	}
	if len(v3.History) != 2 || v3.Metadata.EventID == v2.Metadata.EventID {
		t.Fatalf("third record %+v", v3)
	}
	s := flowmode.ScheduleOf(&v3)
	for at, want := range map[time.Time]string{
		t0:                              contracts.RoutingModeNew, // before any period
		t0.Add(flowmode.DefaultLead):    contracts.RoutingModeLegacy,
		t1.Add(59 * time.Second):        contracts.RoutingModeLegacy,
		t1.Add(time.Minute):             contracts.RoutingModeShadow,
		t2.Add(flowmode.DefaultLead):    contracts.RoutingModeNew,
		t2.Add(time.Millisecond * 2999): contracts.RoutingModeShadow,
		t2.Add(24 * time.Hour):          contracts.RoutingModeNew,
	} {
		if got := s.At(at); got != want {
			t.Errorf("at %s: %s, want %s", at, got, want)
		}
	}
}

// The watcher answers only for times it has read the topic past, and
// routes a command by the mode recorded before its time.
func TestWatcher(t *testing.T) {
	c := processortest.FakeCluster(t)
	kcfg := kafka.Config{Brokers: c.Brokers, TopicPrefix: "fm."}
	testinfra.CreateTopics(t, c.Brokers, 1, kcfg.Topic(contracts.TopicOpsFlowModeV1))
	sd := serde.New(c.Registry, serde.AutoRegister(true))
	cl := testinfra.NewClient(t, c.Brokers)
	w := flowmode.NewWatcher(kcfg, sd, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.Wait = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	future := time.Now().Add(time.Hour)
	if _, err := w.At(context.Background(), flowmode.Orders, future); !errors.Is(err, errs.ErrRetriable) || errs.ReasonOf(err) != string(errs.ReasonRoutingUnknown) {
		t.Fatalf("a time the watcher has not read past: %v", err)
	}
	before := time.Now()
	testinfra.Eventually(t, 10*time.Second, "watcher ready", func() bool { return w.Ready() })
	if m, err := w.At(context.Background(), flowmode.Orders, before); err != nil || m != contracts.RoutingModeNew {
		t.Fatalf("no record: %s %v", m, err)
	}
	v, err := flowmode.Next(nil, flowmode.Change{Flow: flowmode.Orders, Mode: "legacy", By: "ana", Lead: 500 * time.Millisecond}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := flowmode.Publish(context.Background(), cl, kcfg, sd, &v); err != nil {
		t.Fatal(err)
	}
	w.Wait = 10 * time.Second
	after := v.EffectiveAt.Add(time.Millisecond)
	if m, err := w.At(context.Background(), flowmode.Orders, after); err != nil || m != contracts.RoutingModeLegacy {
		t.Fatalf("after the change: %s %v", m, err)
	}
	if m, _ := w.At(context.Background(), flowmode.Orders, v.EffectiveAt.Add(-time.Millisecond)); m != contracts.RoutingModeNew {
		t.Fatalf("just before the change: %s", m)
	}
	if m, _ := w.At(context.Background(), flowmode.Customers, after); m != contracts.RoutingModeNew {
		t.Fatalf("other flow: %s", m)
	}
	if cur := w.Current(); cur[flowmode.Orders].ChangedBy != "ana" {
		t.Fatalf("current %+v", cur)
	}
}

// A command waiting for the mode at its time starts a read of the topic
// at once instead of waiting for the next periodic one.
func TestWatcherReadsWhenAsked(t *testing.T) {
	c := processortest.FakeCluster(t)
	kcfg := kafka.Config{Brokers: c.Brokers, TopicPrefix: "fm2."}
	testinfra.CreateTopics(t, c.Brokers, 1, kcfg.Topic(contracts.TopicOpsFlowModeV1))
	w := flowmode.NewWatcher(kcfg, serde.New(c.Registry), slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.Every = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testinfra.Eventually(t, 10*time.Second, "watcher ready", func() bool { return w.Ready() })
	for range 3 {
		start := time.Now()
		if _, err := w.At(context.Background(), flowmode.Orders, time.Now()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("At waited %s for a read the periodic loop would start in an hour", d)
		}
	}
}
