package saga

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
)

// TestDecisionActions is the table of the operator actions per exception
// kind: each allowed action moves the order exactly once, a refused one
// publishes the exception back OPEN and changes nothing else, and a repeated
// decision is a no-op.
func TestDecisionActions(t *testing.T) {
	known := &Customer{Known: true, ERPCustomerID: "100042", GoldenID: "G-7"}
	q1 := quote(1)
	accepted := contracts.OrderLineStatus{LineNumber: 1, SKU: "SKU-1", Status: contracts.LineStatusAccepted}
	export := rejectedLine(2, contracts.RejectionReasonExportControl, "ECCN 5A002 requires licence for CN")
	tax1 := rejectedLine(1, contracts.RejectionReasonTaxConfiguration, "no tax code for US-TX")
	submitted := []step{{quote: &q1}, {customer: known}, {valid: approved()}}
	partial := append(append([]step{}, submitted...), step{status: erp(contracts.ErpOrderStatePartiallyRejected, accepted, export)})
	hold := []step{{quote: &q1}, {customer: known}, {valid: credit(contracts.CreditDecisionHold)}}
	review := []step{{quote: &q1}, {customer: known}, {valid: &Validation{Pricing: &contracts.PricingOutcome{Valid: false, Violations: []string{"line 1"}}}}}
	then := func(base []step, more ...step) []step { return append(append([]step{}, base...), more...) }
	partialStates := []string{"RECEIVED", "VALIDATING", "SUBMITTED", "PARTIALLY_REJECTED"}
	tests := []struct {
		name  string
		steps []step
		want  result
	}{
		{
			name: "export control: RETRY after a fix resubmits revision 2, ERP accepts, exception RESOLVED",
			steps: then(partial, step{decision: contracts.DecisionActionRetry},
				step{status: erp(contracts.ErpOrderStateAccepted, accepted, contracts.OrderLineStatus{LineNumber: 2, SKU: "SKU-2", Status: contracts.LineStatusAccepted})}),
			want: result{States: append(partialStates, "SUBMITTED", "ACCEPTED"),
				Exceptions: []string{"EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/RETRYING", "EXPORT_CONTROL/TRADE_COMPLIANCE/RESOLVED"},
				Commands:   []int{1, 1}, Revisions: []string{"r2[] lines 2"}, Validates: 1, Lookups: 1, Final: "ACCEPTED"},
		},
		{
			name:  "export control: RETRY without a fix, ERP rejects again, exception OPEN again",
			steps: then(partial, step{decision: contracts.DecisionActionRetry}, step{status: erp(contracts.ErpOrderStatePartiallyRejected, accepted, export)}),
			want: result{States: append(partialStates, "SUBMITTED", "PARTIALLY_REJECTED"),
				Exceptions: []string{"EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/RETRYING", "EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN"},
				Commands:   []int{1, 1}, Revisions: []string{"r2[] lines 2"}, Validates: 1, Lookups: 1, Final: "PARTIALLY_REJECTED"},
		},
		{
			name:  "export control: the same RETRY decision twice resubmits once",
			steps: then(partial, step{decision: contracts.DecisionActionRetry, decisionID: "same"}, step{decision: contracts.DecisionActionRetry, decisionID: "same"}),
			want: result{States: append(partialStates, "SUBMITTED"),
				Exceptions: []string{"EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/RETRYING"},
				Commands:   []int{1, 1}, Revisions: []string{"r2[] lines 2"}, Validates: 1, Lookups: 1, Final: "SUBMITTED"},
		},
		{
			name:  "export control: OVERRIDE without approval is refused, with approval resubmits overriding",
			steps: then(partial, step{decision: contracts.DecisionActionOverride}, step{decision: contracts.DecisionActionOverride, approvedBy: []string{"ops@example.com"}}, step{decision: contracts.DecisionActionOverride, approvedBy: []string{"compliance@example.com"}}),
			want: result{States: append(partialStates, "SUBMITTED"),
				Exceptions: []string{"EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/RETRYING"},
				Commands:   []int{1, 1}, Revisions: []string{"r2[EXPORT_CONTROL] lines 2"}, Validates: 1, Lookups: 1, Final: "SUBMITTED"},
		},
		{
			name:  "export control: CANCEL needs line_id; cancelling the rejected line leaves the accepted order",
			steps: then(partial, step{decision: contracts.DecisionActionCancel}, step{decision: contracts.DecisionActionCancel, params: map[string]string{"line_id": "1"}}, step{decision: contracts.DecisionActionCancel, params: map[string]string{"line_id": "2"}}),
			want: result{States: append(partialStates, "ACCEPTED"),
				Exceptions: []string{"EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/RESOLVED"},
				Commands:   []int{1}, Validates: 1, Lookups: 1, Final: "ACCEPTED"},
		},
		{
			name:  "export control: an action it does not allow is refused",
			steps: then(partial, step{decision: contracts.DecisionActionApprovePrice}),
			want: result{States: partialStates,
				Exceptions: []string{"EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN", "EXPORT_CONTROL/TRADE_COMPLIANCE/OPEN"},
				Commands:   []int{1}, Validates: 1, Lookups: 1, Final: "PARTIALLY_REJECTED"},
		},
		{
			name: "tax configuration: whole order rejected, its only line cancelled: order CANCELLED",
			steps: then(submitted, step{status: erp(contracts.ErpOrderStateRejected, tax1, rejectedLine(2, contracts.RejectionReasonTaxConfiguration, "no tax code for CN"))},
				step{decision: contracts.DecisionActionCancel, params: map[string]string{"line_id": "1"}}, step{decision: contracts.DecisionActionCancel, params: map[string]string{"line_id": "2"}}),
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "REJECTED", "CANCELLED"},
				Exceptions: []string{"TAX_CONFIGURATION/FINANCE_OPS/OPEN", "TAX_CONFIGURATION/FINANCE_OPS/OPEN", "TAX_CONFIGURATION/FINANCE_OPS/RESOLVED"},
				Commands:   []int{1}, Validates: 1, Lookups: 1, Releases: []string{"R-1", "R-1"}, Final: "CANCELLED"},
		},
		{
			name:  "tax configuration: RETRY after the fix is accepted",
			steps: then(submitted, step{status: erp(contracts.ErpOrderStateRejected, tax1)}, step{decision: contracts.DecisionActionRetry}, step{status: erp(contracts.ErpOrderStateAccepted)}),
			want: result{States: []string{"RECEIVED", "VALIDATING", "SUBMITTED", "REJECTED", "SUBMITTED", "ACCEPTED"},
				Exceptions: []string{"TAX_CONFIGURATION/FINANCE_OPS/OPEN", "TAX_CONFIGURATION/FINANCE_OPS/RETRYING", "TAX_CONFIGURATION/FINANCE_OPS/RESOLVED"},
				Commands:   []int{1, 1}, Revisions: []string{"r2[] lines 2"}, Validates: 1, Lookups: 1, Releases: []string{"R-1"}, Final: "ACCEPTED"},
		},
		{
			name:  "credit hold: RELEASE_HOLD without approval is refused and the order stays on hold",
			steps: then(hold, step{decision: contracts.DecisionActionReleaseHold}, step{decision: contracts.DecisionActionResolve}),
			want: result{States: []string{"RECEIVED", "VALIDATING", "CREDIT_HOLD"},
				Exceptions: []string{"CREDIT_HOLD/FINANCE_OPS/OPEN", "CREDIT_HOLD/FINANCE_OPS/OPEN", "CREDIT_HOLD/FINANCE_OPS/OPEN"},
				Validates:  1, Lookups: 1, Final: "CREDIT_HOLD"},
		},
		{
			name:  "credit hold: REJECT refuses the order",
			steps: then(hold, step{decision: contracts.DecisionActionReject}, step{decision: contracts.DecisionActionReject}),
			want: result{States: []string{"RECEIVED", "VALIDATING", "CREDIT_HOLD", "REJECTED"},
				Exceptions: []string{"CREDIT_HOLD/FINANCE_OPS/OPEN", "CREDIT_HOLD/FINANCE_OPS/RESOLVED"},
				Validates:  1, Lookups: 1, Final: "REJECTED"},
		},
		{
			name:  "credit hold: RETRY revalidates; approved credit resolves the exception",
			steps: then(hold, step{decision: contracts.DecisionActionRetry}, step{valid: approved()}),
			want: result{States: []string{"RECEIVED", "VALIDATING", "CREDIT_HOLD", "VALIDATING", "SUBMITTED"},
				Exceptions: []string{"CREDIT_HOLD/FINANCE_OPS/OPEN", "CREDIT_HOLD/FINANCE_OPS/RETRYING", "CREDIT_HOLD/FINANCE_OPS/RESOLVED"},
				Commands:   []int{1}, Validates: 2, Lookups: 1, Final: "SUBMITTED"},
		},
		{
			name:  "price review: REQUOTE sends the quote back to sales",
			steps: then(review, step{decision: contracts.DecisionActionRequote}),
			want: result{States: []string{"RECEIVED", "VALIDATING", "PRICE_REVIEW", "CANCELLED"},
				Exceptions: []string{"PRICE_REVIEW/SALES_OPS/OPEN", "PRICE_REVIEW/SALES_OPS/RESOLVED"},
				Validates:  1, Lookups: 1, Final: "CANCELLED"},
		},
		{
			name:  "price review: APPROVE_PRICE twice (same decision) revalidates once",
			steps: then(review, step{decision: contracts.DecisionActionApprovePrice, decisionID: "x"}, step{decision: contracts.DecisionActionApprovePrice, decisionID: "x"}, step{valid: approved()}),
			want: result{States: []string{"RECEIVED", "VALIDATING", "PRICE_REVIEW", "VALIDATING", "SUBMITTED"},
				Exceptions: []string{"PRICE_REVIEW/SALES_OPS/OPEN", "PRICE_REVIEW/SALES_OPS/RESOLVED"},
				Commands:   []int{1}, Validates: 2, Lookups: 1, Final: "SUBMITTED"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := run(t, tc.steps)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestCommandRevision(t *testing.T) {
	for id, want := range map[string]int{"Q-1:v1:a1": 1, "Q-1:v2:r3:a1": 3, "Q:r9:v1:a2": 1, "x": 1} {
		if got := CommandRevision(id); got != want {
			t.Errorf("CommandRevision(%q) = %d, want %d", id, got, want)
		}
	}
}
