package opsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
)

// ApprovalsTopic is the compacted internal topic of pending approvals
// (logical name; one partition; key: approval id, value: JSON Pending,
// tombstone once approved or rejected). Every dashboard instance reads it
// from its start, so a request made on one instance is approved on another
// and survives restarts.
const ApprovalsTopic = "reconciler.approvals.v1"

// Pending is a decision waiting for a second person.
type Pending struct {
	ApprovalID  string              `json:"approval_id"` // the decision id it will be published with
	Decision    *contracts.Decision `json:"decision"`
	RequestedBy string              `json:"requested_by"`
	RequestedAt time.Time           `json:"requested_at"`
	Reason      string              `json:"reason"`
	Queue       string              `json:"queue"`
	Summary     string              `json:"summary"`
	Amount      string              `json:"amount,omitempty"`
}

// Approvals is the projection of ApprovalsTopic, and its writer.
type Approvals struct {
	cl    *kgo.Client
	topic string
	log   *slog.Logger

	mu      sync.RWMutex
	pending map[string]*Pending
	next    int64 // offset after the last record applied
	changed chan struct{}
}

// NewApprovals reads the physical approvals topic of kcfg with cl's
// settings (a new client consuming it from its start).
func NewApprovals(kcfg kafka.Config, log *slog.Logger) (*Approvals, error) {
	topic := kcfg.Topic(ApprovalsTopic)
	cl, err := kcfg.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	return &Approvals{cl: cl, topic: topic, log: log, pending: map[string]*Pending{}, changed: make(chan struct{})}, nil
}

// Run applies the topic's records until ctx ends, then closes the client.
func (a *Approvals) Run(ctx context.Context) error {
	defer a.cl.Close()
	for ctx.Err() == nil {
		fs := a.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			a.log.Warn("approvals topic fetch failed; retrying", "topic", t, "partition", p, "err", err)
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		a.mu.Lock()
		for _, r := range recs {
			id := string(r.Key)
			if r.Value == nil {
				delete(a.pending, id)
			} else {
				var p Pending
				if err := json.Unmarshal(r.Value, &p); err != nil || p.Decision == nil {
					a.log.Error("skipping unreadable pending approval", "offset", r.Offset, "err", err)
				} else {
					a.pending[id] = &p
				}
			}
			a.next = r.Offset + 1
		}
		close(a.changed)
		a.changed = make(chan struct{})
		a.mu.Unlock()
	}
	return nil
}

// Sync waits until every record written to the topic before the call is
// applied, so a decision taken on another instance is seen here.
func (a *Approvals) Sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	spans, err := kafka.Partitions(ctx, kadm.NewClient(a.cl), a.topic)
	if err != nil {
		return fmt.Errorf("approvals topic %s: %w", a.topic, err)
	}
	end, ok := spans[0]
	if !ok {
		return fmt.Errorf("approvals topic %s: no partition 0", a.topic)
	}
	for {
		a.mu.RLock()
		next, ch := a.next, a.changed
		a.mu.RUnlock()
		if next >= end.To {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("approvals topic %s: still at offset %d of %d: %w", a.topic, next, end.To, ctx.Err())
		}
	}
}

func (a *Approvals) write(ctx context.Context, key string, value []byte) error {
	if err := a.cl.ProduceSync(ctx, &kgo.Record{Topic: a.topic, Partition: 0, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("write %s: %w", a.topic, err)
	}
	return a.Sync(ctx)
}

// Put records a pending approval (and waits until it is applied here).
func (a *Approvals) Put(ctx context.Context, p *Pending) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return a.write(ctx, p.ApprovalID, b)
}

// Delete ends a pending approval (tombstone).
func (a *Approvals) Delete(ctx context.Context, id string) error { return a.write(ctx, id, nil) }

// Get returns one pending approval.
func (a *Approvals) Get(id string) (*Pending, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	p, ok := a.pending[id]
	return p, ok
}

// List returns the pending approvals, oldest first; exception "" for all.
func (a *Approvals) List(exception string) []*Pending {
	a.mu.RLock()
	out := []*Pending{}
	for _, p := range a.pending {
		if exception == "" || p.Decision.ExceptionID == exception {
			out = append(out, p)
		}
	}
	a.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].RequestedAt.Equal(out[j].RequestedAt) {
			return out[i].RequestedAt.Before(out[j].RequestedAt)
		}
		return out[i].ApprovalID < out[j].ApprovalID
	})
	return out
}

// errPendingExists is returned when an exception already waits for approval.
var errPendingExists = errors.New("a decision on this exception is already waiting for approval")
