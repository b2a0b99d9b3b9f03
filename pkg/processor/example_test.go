package processor_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/processor"
)

// A service's processor: one handler for its topics, typed state, a timer
// index, and errors classified with pkg/errs. Handle runs it without a
// broker (pkg/processor/processortest wraps it for tests).
func Example() {
	visits := processor.NewStore("visits", processor.JSON[int]())
	followUps := processor.NewTimers("follow-ups")
	handle := func(ctx context.Context, m *processor.Message) error {
		if len(m.Value()) == 0 {
			return errs.Poisonf("empty_visit", "visit of %s has no body", m.Key())
		}
		n, _, err := visits.Get(m, m.Key())
		if err != nil {
			return err // our own state unreadable: retriable, never dropped
		}
		n++
		if err := visits.Put(m, m.Key(), n); err != nil {
			return err
		}
		followUps.Set(m, m.Key(), m.EventTime().Add(24*time.Hour))
		m.Emit("visits.counted.v1", m.Key(), []byte(strconv.Itoa(n)))
		return nil
	}
	p, err := processor.New(processor.Config{
		Service: "visits", Topics: []string{"crm.visit.v1"},
		Stores:  []string{visits.Name(), followUps.Name()},
		Handler: handle,
	}, kafka.Config{})
	if err != nil {
		panic(err)
	}
	for _, v := range []string{"call", "", "meeting"} {
		out, err := p.Handle(context.Background(), &kgo.Record{Topic: "crm.visit.v1", Key: []byte("acme"), Value: []byte(v), Timestamp: time.Unix(0, 0)})
		if err != nil {
			panic(err)
		}
		for _, r := range out.Outputs {
			fmt.Printf("%s %s=%s\n", r.Topic, r.Key, r.Value)
		}
	}
	// Output:
	// visits.counted.v1 acme=1
	// dlq.visits.v1 acme=
	// visits.counted.v1 acme=2
}
