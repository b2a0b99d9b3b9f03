// Package flowmode routes the ERP flows of a phased modernization: each flow
// (customers, orders) is served by the legacy ERP adapter, by the new path,
// or by both with the legacy one authoritative (shadow). The mode lives on
// the compacted topic ops.flow-mode.v1 (written only by the operations API)
// and changes at run time.
//
// Every ERP adapter decides a command's path the same way, without talking
// to the others: by the flow's mode in force at the command's record
// timestamp. A change takes effect a lead time after it is recorded
// (Next), and an adapter answers At for a time only once it has read the
// mode topic up to an instant after it (Watcher), so two adapters never
// disagree on a command: none is lost and none is answered twice.
package flowmode

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
)

// The routed flows.
const (
	// Customers: erp.customer-commands.v1 answered on erp.customer.v1.
	Customers = "customers"
	// Orders: erp.order-commands.v1 answered on erp.order-status.v1.
	Orders = "orders"
)

// Flows lists the routed flows.
var Flows = []string{Customers, Orders}

// Modes lists the modes an operator may set.
var Modes = []string{contracts.RoutingModeLegacy, contracts.RoutingModeShadow, contracts.RoutingModeNew}

// Default is the mode of a flow that has none recorded: the suite's own
// ERP path on the topics (the simulator, or the new ERP's adapter).
const Default = contracts.RoutingModeNew

// DefaultLead is how long after a change is recorded it takes effect.
const DefaultLead = 3 * time.Second

// MaxHistory bounds the earlier periods a mode record carries.
const MaxHistory = 100

// FlowOf is the routed flow of a command topic (logical name).
func FlowOf(topic string) (string, bool) {
	switch topic {
	case contracts.TopicERPCustomerCommandsV1:
		return Customers, true
	case contracts.TopicERPOrderCommandsV1:
		return Orders, true
	}
	return "", false
}

// ValidFlow checks a flow name.
func ValidFlow(flow string) error {
	if !slices.Contains(Flows, flow) {
		return fmt.Errorf("unknown flow %q (want one of %s)", flow, strings.Join(Flows, ", "))
	}
	return nil
}

// ParseMode reads a mode, in any case.
func ParseMode(s string) (string, error) {
	m := strings.ToUpper(strings.TrimSpace(s))
	if !slices.Contains(Modes, m) {
		return "", fmt.Errorf("unknown mode %q (want legacy, shadow or new)", s)
	}
	return m, nil
}

// Role is what one path does with a command.
type Role int

// Roles.
const (
	// Off: the path leaves the command alone.
	Off Role = iota
	// Authoritative: the path answers on the flow's erp.* topic (and
	// reports on erp.path-results.v1).
	Authoritative
	// Shadow: the path works the command but only reports what it would
	// have answered, on erp.path-results.v1.
	Shadow
)

func (r Role) String() string {
	switch r {
	case Authoritative:
		return "authoritative"
	case Shadow:
		return "shadow"
	}
	return "off"
}

// RoleOf is the role of path (contracts.ErpPathLegacy or ErpPathNew) under
// mode.
func RoleOf(mode, path string) Role {
	switch mode {
	case contracts.RoutingModeLegacy:
		if path == contracts.ErpPathLegacy {
			return Authoritative
		}
	case contracts.RoutingModeShadow:
		if path == contracts.ErpPathLegacy {
			return Authoritative
		}
		return Shadow
	default: // NEW, and UNKNOWN read from a newer writer: the default
		if path == contracts.ErpPathNew {
			return Authoritative
		}
	}
	return Off
}

// Period is a mode from an instant on.
type Period struct {
	Mode string
	From time.Time
	By   string
}

// Schedule is a flow's periods, oldest first.
type Schedule []Period

// ScheduleOf is the schedule a mode record describes: its history and its
// own period.
func ScheduleOf(v *contracts.FlowMode) Schedule {
	if v == nil {
		return nil
	}
	s := make(Schedule, 0, len(v.History)+1)
	for _, h := range v.History {
		s = append(s, Period{Mode: h.Mode, From: h.EffectiveAt, By: h.ChangedBy})
	}
	s = append(s, Period{Mode: v.Mode, From: v.EffectiveAt, By: v.ChangedBy})
	slices.SortStableFunc(s, func(a, b Period) int { return a.From.Compare(b.From) })
	return s
}

// At is the mode in force at t (Default before the first period).
func (s Schedule) At(t time.Time) string {
	mode := Default
	for _, p := range s {
		if p.From.After(t) {
			break
		}
		mode = p.Mode
	}
	return mode
}

// Change is an operator's request to change a flow's mode.
type Change struct {
	Flow, Mode, By, Reason string
	// Lead is how long after now the change takes effect (DefaultLead
	// when zero).
	Lead time.Duration
}

// Next is the record that applies c to the flow's current record (nil when
// none): its history keeps the current period. It refuses an unknown flow
// or mode and a change to the mode already in force.
func Next(cur *contracts.FlowMode, c Change, now time.Time) (contracts.FlowMode, error) {
	if err := ValidFlow(c.Flow); err != nil {
		return contracts.FlowMode{}, err
	}
	mode, err := ParseMode(c.Mode)
	if err != nil {
		return contracts.FlowMode{}, err
	}
	if strings.TrimSpace(c.By) == "" {
		return contracts.FlowMode{}, fmt.Errorf("a mode change needs the operator who makes it")
	}
	lead := c.Lead
	if lead <= 0 {
		lead = DefaultLead
	}
	at := event.Time(now.Add(lead))
	v := contracts.FlowMode{Flow: c.Flow, Mode: mode, EffectiveAt: at, ChangedBy: c.By, History: []contracts.RoutingPeriod{}}
	if r := strings.TrimSpace(c.Reason); r != "" {
		v.Reason = &r
	}
	if cur != nil {
		if cur.Flow != c.Flow {
			return contracts.FlowMode{}, fmt.Errorf("current record is of flow %q, not %q", cur.Flow, c.Flow)
		}
		if cur.EffectiveAt.After(now) {
			return contracts.FlowMode{}, fmt.Errorf("flow %s: the change to %s has not taken effect yet (at %s); try again then", c.Flow, cur.Mode, cur.EffectiveAt.UTC().Format(time.RFC3339))
		}
		if cur.Mode == mode {
			return contracts.FlowMode{}, fmt.Errorf("flow %s is already %s", c.Flow, mode)
		}
		v.History = append(append(v.History, cur.History...), contracts.RoutingPeriod{Mode: cur.Mode, EffectiveAt: cur.EffectiveAt, ChangedBy: cur.ChangedBy})
		if n := len(v.History); n > MaxHistory {
			v.History = v.History[n-MaxHistory:]
		}
	} else if mode == Default {
		return contracts.FlowMode{}, fmt.Errorf("flow %s is already %s (no mode recorded)", c.Flow, mode)
	}
	v.Metadata = event.Metadata(event.ID("flow-mode", c.Flow, at.Format(time.RFC3339Nano), mode), event.ID("flow-mode", c.Flow),
		"", contracts.SourceSystemOperator, now)
	return v, nil
}
