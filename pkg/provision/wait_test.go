package provision

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/isthmus/isthmus/pkg/catalog"
)

// TestTopicsWaitUntilListed: a broker whose metadata lags the controller
// does not list a topic just created; Topics returns only once it does,
// with a leader for each partition, so a service started next finds it.
func TestTopicsWaitUntilListed(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cat, err := catalog.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	topic := cat.MustTopic("crm.account.v1")
	name := "w." + topic.Name
	var created atomic.Bool
	var hidden, lookups atomic.Int32
	c.ControlKey(int16(kmsg.CreateTopics), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		created.Store(true)
		return nil, nil, false
	})
	// After the create, the first five lookups of the topic ask for another
	// name: the answer does not list it, as a lagging broker's would not.
	c.ControlKey(int16(kmsg.Metadata), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.MetadataRequest)
		for i := range req.Topics {
			if req.Topics[i].Topic != nil && *req.Topics[i].Topic == name && created.Load() {
				lookups.Add(1)
				if hidden.Add(1) <= 5 {
					other := "w.not-yet"
					req.Topics[i].Topic = &other
				}
			}
		}
		return nil, nil, false
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Topics(ctx, cl, "w.", []*catalog.Topic{topic}, -1, false); err != nil {
		t.Fatal(err)
	}
	if n := lookups.Load(); n < 6 {
		t.Fatalf("Topics returned after %d lookups of the created topic; the first 5 did not list it", n)
	}
}
