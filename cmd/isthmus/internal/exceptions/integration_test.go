//go:build integration

package exceptions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// TestResolvePublishesDecision: `exceptions resolve` on an open exception
// publishes a decision for its owning service; list shows it; an unknown id
// is a one-line error.
func TestResolvePublishesDecision(t *testing.T) {
	brokers, regURL := testinfra.Brokers(t), testinfra.RegistryURL(t)
	kcfg := kafka.Config{Brokers: brokers, TopicPrefix: fmt.Sprintf("exctest%d.", time.Now().UnixNano())}
	testinfra.CreateTopics(t, brokers, 6, kcfg.Topic(contracts.TopicOpsExceptionsV1), kcfg.Topic(contracts.TopicOpsDecisionsV1))
	rc, err := sr.NewClient(sr.URLs(regURL))
	if err != nil {
		t.Fatal(err)
	}
	sd := serde.New(rc, serde.AutoRegister(true))
	ctx := context.Background()
	// Register the decision schema for the prefixed subject (what
	// `isthmus schemas apply` does in a deployment).
	if _, err := sd.Encode(ctx, kcfg.Topic(contracts.TopicOpsDecisionsV1), &contracts.Decision{Metadata: contracts.EventMetadata{SourceSystem: contracts.SourceSystemOperator}, Action: contracts.DecisionActionResolve, Parameters: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	cl := testinfra.NewClient(t, brokers)
	for i, st := range []string{contracts.ExceptionStatusOpen, contracts.ExceptionStatusOpen} {
		x := &contracts.OperationalException{Metadata: contracts.EventMetadata{EventID: fmt.Sprintf("e-%d", i), CorrelationID: "corr-q", SourceSystem: contracts.SourceSystemQuoteToOrder, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)},
			ExceptionID: "EX-1", Category: contracts.ExceptionCategoryExportControl, Queue: contracts.ExceptionQueueTradeCompliance, Severity: contracts.SeverityHigh,
			Status: st, OwnerService: "quote-to-order", Summary: "line 20 rejected: export control", EntityIds: map[string]string{"order_id": "O-1"}, Context: map[string]string{},
			AllowedActions: []string{contracts.DecisionActionResolve, contracts.DecisionActionRetry, contracts.DecisionActionCancel}}
		b, err := sd.Encode(ctx, kcfg.Topic(contracts.TopicOpsExceptionsV1), x)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kcfg.Topic(contracts.TopicOpsExceptionsV1), Key: []byte("EX-1"), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	conn := []string{"--brokers", strings.Join(brokers, ","), "--prefix", kcfg.TopicPrefix, "--registry", regURL, "--output", "json"}
	var out, errb bytes.Buffer
	if err := Run(ctx, append([]string{"list", "--queue", "trade-compliance"}, conn...), &out, &errb); err != nil {
		t.Fatal(err)
	}
	var listed []contracts.OperationalException
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil || len(listed) != 1 || listed[0].ExceptionID != "EX-1" {
		t.Fatalf("list: %s %v", out.String(), err)
	}
	out.Reset()
	if err := Run(ctx, append([]string{"retry", "EX-1", "--comment", "licence granted", "--actor", "ana"}, conn...), &out, &errb); err != nil {
		t.Fatal(err)
	}
	if err := Run(ctx, append([]string{"resolve", "NOPE"}, conn...), &out, &errb); err == nil || !strings.Contains(err.Error(), `unknown exception id "NOPE"`) {
		t.Fatalf("unknown id: %v", err)
	}
	rd, err := kcfg.NewClient(kgo.ConsumeTopics(kcfg.Topic(contracts.TopicOpsDecisionsV1)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < 1 && cctx.Err() == nil {
		recs = append(recs, rd.PollFetches(cctx).Records()...)
	}
	var d contracts.Decision
	for _, r := range recs {
		if string(r.Key) == "EX-1" {
			if err := sd.Decode(ctx, r.Value, &d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d.Action != contracts.DecisionActionRetry || d.OwnerService != "quote-to-order" || d.Actor != "ana" || d.Comment == nil || *d.Comment != "licence granted" || d.Metadata.CorrelationID != "corr-q" {
		t.Fatalf("decision %+v", d)
	}
}
