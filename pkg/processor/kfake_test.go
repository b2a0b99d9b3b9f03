package processor

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
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
