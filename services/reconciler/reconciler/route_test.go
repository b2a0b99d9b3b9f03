package reconciler

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
)

// The field-service topics must carry their id and be keyed by it; a record
// that does not is poison (dead-lettered with the reason), and other topics
// keep being routed whatever their key.
func TestCheckKey(t *testing.T) {
	tests := []struct {
		name, topic, key string
		v                contracts.Value
		reason           string // "" when the record is routed
	}{
		{"case keyed by its id", contracts.TopicCRMCaseV1, "c1", &contracts.Case{CaseID: "c1"}, ""},
		{"case under another key", contracts.TopicCRMCaseV1, "c2", &contracts.Case{CaseID: "c1"}, "key_mismatch"},
		{"case without id", contracts.TopicCRMCaseV1, "c1", &contracts.Case{}, "missing_id"},
		{"case update under another key", contracts.TopicCRMCaseUpdatesV1, "", &contracts.CaseUpdate{CaseID: "c1"}, "key_mismatch"},
		{"service order status keyed by its id", contracts.TopicERPServiceOrderStatusV1, "c1", &contracts.ServiceOrderStatus{ServiceOrderID: "c1"}, ""},
		{"service order status without id", contracts.TopicERPServiceOrderStatusV1, "", &contracts.ServiceOrderStatus{}, "missing_id"},
		{"return status under another key", contracts.TopicERPReturnStatusV1, "r2", &contracts.ReturnStatus{ReturnID: "r1"}, "key_mismatch"},
		{"other topics are not checked", contracts.TopicERPJournalV1, "k1", &contracts.Journal{JournalCommandID: "j1"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkKey(tc.topic, tc.key, tc.v)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if errs.ClassOf(err) != errs.ClassPoison || errs.ReasonOf(err) != tc.reason {
				t.Fatalf("got %v (class %q, reason %q), want poison %q", err, errs.ClassOf(err), errs.ReasonOf(err), tc.reason)
			}
		})
	}
}
