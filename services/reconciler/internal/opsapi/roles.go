package opsapi

import (
	"slices"
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/bearer"
	"github.com/isthmus/isthmus/pkg/contracts"
)

// Roles an operator's token carries (the verifier's roles claim).
const (
	// RoleViewer reads the dashboard and the API.
	RoleViewer = "ops.viewer"
	// RoleResolver decides on exceptions: resolve, retry, dismiss, cancel,
	// merge, ...; requests overrides and releases (which need approval).
	RoleResolver = "ops.resolver"
	// RoleApprover approves (four eyes) and takes the journal actions.
	RoleApprover = "finance.approver"
	// RoleReplayer replays dead letters to their service's retry topic.
	RoleReplayer = "ops.replayer"
	// RoleCutover changes a routed flow's ERP path (legacy, shadow, new).
	RoleCutover = "ops.cutover"
)

// AllRoles in display order.
var AllRoles = []string{RoleViewer, RoleResolver, RoleApprover, RoleReplayer, RoleCutover}

// ActionRoles is who may take each decision action: any one of the roles.
var ActionRoles = map[string][]string{
	contracts.DecisionActionResolve:        {RoleResolver},
	contracts.DecisionActionRetry:          {RoleResolver},
	contracts.DecisionActionDismiss:        {RoleResolver},
	contracts.DecisionActionCancel:         {RoleResolver},
	contracts.DecisionActionReject:         {RoleResolver},
	contracts.DecisionActionRequote:        {RoleResolver},
	contracts.DecisionActionApprovePrice:   {RoleResolver},
	contracts.DecisionActionMerge:          {RoleResolver},
	contracts.DecisionActionNotDuplicate:   {RoleResolver},
	contracts.DecisionActionPickSurvivor:   {RoleResolver},
	contracts.DecisionActionSplit:          {RoleResolver},
	contracts.DecisionActionOverride:       {RoleResolver, RoleApprover},
	contracts.DecisionActionReleaseHold:    {RoleResolver, RoleApprover},
	contracts.DecisionActionRepost:         {RoleApprover},
	contracts.DecisionActionRouteToFinance: {RoleApprover},
}

// Actions in the order of the contract's enum (UNKNOWN excluded).
var Actions = []string{
	contracts.DecisionActionResolve, contracts.DecisionActionRetry, contracts.DecisionActionMerge, contracts.DecisionActionNotDuplicate,
	contracts.DecisionActionReleaseHold, contracts.DecisionActionApprovePrice, contracts.DecisionActionCancel, contracts.DecisionActionDismiss,
	contracts.DecisionActionOverride, contracts.DecisionActionReject, contracts.DecisionActionRequote, contracts.DecisionActionRepost,
	contracts.DecisionActionRouteToFinance, contracts.DecisionActionPickSurvivor, contracts.DecisionActionSplit,
}

// alwaysApproved are the actions that always need a second person.
var alwaysApproved = []string{contracts.DecisionActionOverride, contracts.DecisionActionReleaseHold}

// mayTake reports whether p may take action.
func mayTake(p *bearer.Principal, action string) bool {
	for _, r := range ActionRoles[action] {
		if p.HasRole(r) {
			return true
		}
	}
	return false
}

// mayRead reports whether p may read: any operations role.
func mayRead(p *bearer.Principal) bool {
	return slices.ContainsFunc(AllRoles, p.HasRole)
}

// approvalReason says why a decision needs a second person's approval, or
// "" when it needs none: OVERRIDE and RELEASE_HOLD always; any action on
// an exception whose amount exceeds threshold (minor units; 0 disables).
func approvalReason(action, amount string, threshold int64) string {
	if slices.Contains(alwaysApproved, action) {
		return action + " always needs a second approver (four eyes)"
	}
	if n, ok := minorUnits(amount); ok && threshold > 0 && n > threshold {
		return "amount " + strconv.FormatInt(n, 10) + " (minor units) is above the four-eyes threshold " + strconv.FormatInt(threshold, 10)
	}
	return ""
}

// minorUnits reads the leading integer of an amount text ("12345" or
// "12345 EUR (minor units)").
func minorUnits(s string) (int64, bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false
	}
	if n < 0 {
		n = -n
	}
	return n, true
}
