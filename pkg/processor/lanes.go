package processor

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// lanes runs the handlers of one transaction with the partitions
// concurrently: each partition's records go to its lane, which handles
// them in order on its own goroutine while the processing loop keeps
// polling and dispatching. A slow or retrying record holds up its own
// lane; the others go on taking records until the batch bound, and the
// transaction commits once every lane has drained.
type lanes struct {
	p      *Processor
	ctx    context.Context
	tx     *txn
	byPart map[int32]*lane
	// sem bounds the lanes handling records at the same time
	// (WithPartitionConcurrency); nil: every partition at once.
	sem     chan struct{}
	running sync.WaitGroup
	// pending counts dispatched records not handled yet.
	pending atomic.Int64
	failed  atomic.Bool
	mu      sync.Mutex
	err     error
}

// lane is one partition's queue within a transaction.
type lane struct {
	st      *partition
	mu      sync.Mutex
	queue   [][]*kgo.Record
	running bool
	// queued counts the lane's dispatched records not handled yet; since
	// is when the record in hand started (Unix ns, 0: none).
	queued atomic.Int64
	since  atomic.Int64
}

func (p *Processor) newLanes(ctx context.Context, tx *txn) *lanes {
	l := &lanes{p: p, ctx: ctx, tx: tx, byPart: map[int32]*lane{}}
	if p.concurrency > 1 {
		l.sem = make(chan struct{}, p.concurrency)
	}
	return l
}

// dispatch queues each partition's records on its lane (handled there in
// the order given) and returns the first handler error so far.
func (l *lanes) dispatch(parts []int32, recs map[int32][]*kgo.Record) error {
	p := l.p
	for _, part := range parts {
		ln := l.byPart[part]
		if ln == nil {
			ln = &lane{st: p.parts[part]}
			l.byPart[part] = ln
		}
		l.pending.Add(int64(len(recs[part])))
		ln.queued.Add(int64(len(recs[part])))
		ln.mu.Lock()
		ln.queue = append(ln.queue, recs[part])
		start := !ln.running
		ln.running = true
		ln.mu.Unlock()
		if start {
			l.running.Add(1)
			go l.drain(ln)
		}
	}
	return l.firstErr()
}

// drain handles a lane's queued records in order until the queue is empty.
func (l *lanes) drain(ln *lane) {
	defer l.running.Done()
	for {
		ln.mu.Lock()
		if len(ln.queue) == 0 {
			ln.running = false
			ln.mu.Unlock()
			return
		}
		recs := ln.queue[0]
		ln.queue = ln.queue[1:]
		ln.mu.Unlock()
		if l.sem != nil {
			l.sem <- struct{}{}
		}
		for _, r := range recs {
			if !l.failed.Load() {
				ln.since.Store(time.Now().UnixNano())
				l.handle(ln, r)
				ln.since.Store(0)
			}
			ln.queued.Add(-1)
			l.pending.Add(-1)
		}
		if l.sem != nil {
			<-l.sem
		}
	}
}

func (l *lanes) handle(ln *lane, r *kgo.Record) {
	p := l.p
	m := &Message{Topic: p.logicalTopic(r), Record: r, p: p, ctx: l.ctx, batch: l.tx.batch}
	if err := p.chain(l.ctx, m); err != nil {
		l.mu.Lock()
		if l.err == nil {
			l.err = err
		}
		l.mu.Unlock()
		l.failed.Store(true)
		return
	}
	l.tx.add(l.ctx, m)
	p.observePartition(ln.st, m)
}

// settle waits until at most limit dispatched records wait in lanes that
// are not stuck, and reports whether a lane is stuck: its record in hand
// started more than stuckAfter ago (a slow call, a retry). The processing
// loop polls again only then, so a transaction's records are handled about
// as fast as they are dispatched, while a stuck lane does not stop the
// others from taking records.
func (l *lanes) settle(limit int64, stuckAfter time.Duration) (stuck bool) {
	for {
		now := time.Now().UnixNano()
		var backlog int64
		stuck = false
		for _, ln := range l.byPart {
			if s := ln.since.Load(); s != 0 && now-s > int64(stuckAfter) {
				stuck = true
				continue
			}
			backlog += ln.queued.Load()
		}
		if backlog <= limit || l.failed.Load() {
			return stuck
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// busy reports whether dispatched records are still being handled.
func (l *lanes) busy() bool { return l.pending.Load() > 0 }

func (l *lanes) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// wait returns once every lane has drained, with the first handler error.
func (l *lanes) wait() error {
	l.running.Wait()
	return l.firstErr()
}
