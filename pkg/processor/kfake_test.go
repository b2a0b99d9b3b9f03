package processor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func fakeCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func TestFakeExactlyOnceAndOrder(t *testing.T) { suiteExactlyOnceAndOrder(t, fakeCluster(t)) }
func TestFakePoisonToDLQ(t *testing.T)         { suitePoisonToDLQ(t, fakeCluster(t)) }
func TestFakeTransientRetried(t *testing.T)    { suiteTransientRetried(t, fakeCluster(t)) }
func TestFakeRetriableBeyondBudget(t *testing.T) {
	suiteRetriableBeyondBudget(t, fakeCluster(t))
}

func TestFakeInternalRekey(t *testing.T) { suiteInternalRekey(t, fakeCluster(t)) }

func TestFakeTickFailureIsolated(t *testing.T) { suiteTickFailureIsolated(t, fakeCluster(t)) }

func TestFakeTimerBacklogAfterDowntime(t *testing.T) {
	suiteTimerBacklogAfterDowntime(t, fakeCluster(t))
}

func TestFakeForwardMisPartitioned(t *testing.T) { suiteForwardMisPartitioned(t, fakeCluster(t)) }

// The same with every record handled on the processing goroutine (the
// default handles partitions concurrently; `go test -race` checks the
// paths they share).
func TestFakeExactlyOnceSequential(t *testing.T) {
	suiteExactlyOnceAndOrder(t, fakeCluster(t), WithPartitionConcurrency(1))
}

func TestFakeSlowPartitionOnly(t *testing.T) { suiteSlowPartitionOnly(t, fakeCluster(t)) }
func TestFakeRetryTopic(t *testing.T)        { suiteRetryTopic(t, fakeCluster(t)) }

func TestFakeEventTimeOrder(t *testing.T) { suiteEventTimeOrder(t, fakeCluster(t)) }
func TestFakeEventTimeOrderSequential(t *testing.T) {
	suiteEventTimeOrder(t, fakeCluster(t), WithPartitionConcurrency(1))
}

// A new owner's first fetches of a partition's two topics come apart: the
// cross-references' broker answers a second late. Without waiting
// (WithAssignmentIdle(0)) lookups are answered before the cross-references
// they need — which shows the delay splits the topics — and with the
// default wait none is.
func TestFakeNewPartitionWaitsForItsOtherTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := newEnv(t, c.ListenAddrs(), 4)
	e.createTopics(4, lookupTopic, xrefTopic)
	lookupNode, xrefNode := c.LeaderFor(e.kcfg.Topic(lookupTopic), 0), int32(-1)
	for part := range int32(4) {
		for topic, node := range map[string]*int32{lookupTopic: &lookupNode, xrefTopic: &xrefNode} {
			if *node < 0 {
				*node = 1 - lookupNode
			}
			if err := c.MoveTopicPartition(e.kcfg.Topic(topic), part, *node); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Once armed, fetches of the cross-references wait until a second after
	// the first fetch of the lookups (the changelog restores, on either
	// broker, do not wait).
	ids := topicIDs(t, e, lookupTopic, xrefTopic)
	var until atomic.Int64 // 0: no wait; -1: armed; >0: released then (Unix ns)
	wants := func(req kmsg.Request, topic string) bool {
		for _, ft := range req.(*kmsg.FetchRequest).Topics {
			if ft.Topic == e.kcfg.Topic(topic) || ft.TopicID == ids[topic] {
				return true
			}
		}
		return false
	}
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if wants(req, lookupTopic) {
			until.CompareAndSwap(-1, time.Now().Add(time.Second).UnixNano())
		}
		if wants(req, xrefTopic) {
			c.SleepControl(func() {
				for u := until.Load(); u != 0 && (u < 0 || time.Now().UnixNano() < u); u = until.Load() {
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		return nil, nil, false
	})
	until.Store(-1)
	if misses := e.lookupRound(0, WithAssignmentIdle(0)); misses == 0 {
		t.Fatal("without waiting, every lookup still found its cross-reference: the delayed broker did not split the topics")
	}
	until.Store(-1)
	if misses := e.lookupRound(1, WithAssignmentIdle(5*time.Second)); misses > 0 {
		t.Fatalf("%d lookups answered before the cross-reference that happened before them", misses)
	}
}

// topicIDs looks up the ids of logical topics (fetch requests name topics
// by id).
func topicIDs(t *testing.T, e *env, topics ...string) map[string][16]byte {
	t.Helper()
	physical := make([]string, len(topics))
	for i, topic := range topics {
		physical[i] = e.kcfg.Topic(topic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	details, err := kadm.NewClient(e.client()).ListTopics(ctx, physical...)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][16]byte{}
	for i, topic := range topics {
		ids[topic] = details[physical[i]].ID
	}
	return ids
}
