package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
)

// StoreServiceOrders: service order id → serviceOrderState.
const StoreServiceOrders = "service-orders"

// Steps of a service order in the simulated field service.
const (
	soScheduled = "scheduled" // next: SCHEDULED
	soParts     = "parts"     // next: PART_UNAVAILABLE or PARTS_ISSUED
	soWaiting   = "waiting"   // next: PARTS_ISSUED after the back order
	soComplete  = "complete"  // next: COMPLETED
	soDone      = "done"
)

// ERP's standard costs (USD cents, the company's cost currency) and labour.
const (
	costCurrency        = "USD"
	labourRateCentsHour = 9500
)

// partCosts are the standard costs of the spare parts field service issues.
var partCosts = map[string]int64{"KIT-SEAL": 4900, "BEARING-6205": 1850, "PSU-24V": 8900, "SENSOR-PT": 32900, "IMPELLER-100": 21500}

// partsFor are the parts a service type uses on a product.
func partsFor(sku, serviceType string) []contracts.PartUsed {
	var parts map[string]int64
	switch serviceType {
	case contracts.ServiceTypeRepair, contracts.ServiceTypeParts:
		switch {
		case strings.HasPrefix(sku, "PUMP-"):
			parts = map[string]int64{"KIT-SEAL": 1, "IMPELLER-100": 1}
		case sku == "MOTOR-5KW":
			parts = map[string]int64{"BEARING-6205": 2}
		case sku == "CTRL-PLC":
			parts = map[string]int64{"PSU-24V": 1}
		case sku == "SENSOR-PT":
			parts = map[string]int64{"SENSOR-PT": 1}
		}
	case contracts.ServiceTypePreventiveMaintenance:
		if strings.HasPrefix(sku, "PUMP-") {
			parts = map[string]int64{"KIT-SEAL": 1}
		}
	}
	var out []contracts.PartUsed
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for k := range parts {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, contracts.PartUsed{SKU: p, Quantity: parts[p], UnitCost: contracts.Money{AmountMinor: partCosts[p], Currency: costCurrency}})
	}
	return out
}

type serviceOrderState struct {
	Cmd    contracts.ServiceOrderCommand `json:"cmd"`
	Origin origin                        `json:"origin"`
	ERPID  string                        `json:"erp_id"`
	Step   string                        `json:"step"`
	Timer  string                        `json:"timer,omitempty"`
	Last   string                        `json:"last,omitempty"` // last status sent
	// Cost is the completed order's total cost (USD cents).
	Cost int64 `json:"cost,omitempty"`
	// Claims answered: claim id → status.
	Claims map[string]string `json:"claims,omitempty"`
	answerOrder
}

// answerOrder keeps one entity's answers in order: Sent is when its last
// answer is due (unix ms), and a later answer is not emitted before it.
type answerOrder struct {
	Sent int64 `json:"sent,omitempty"`
}

// due is when the next answer may go out, at the earliest at, and records
// it.
func (w *answerOrder) due(at time.Time) time.Time {
	if ms := at.UnixMilli(); ms <= w.Sent {
		at = time.UnixMilli(w.Sent + 1)
	}
	w.Sent = at.UnixMilli()
	return at
}

func (s *Sim) soStatus(st *serviceOrderState, status, step string) *contracts.ServiceOrderStatus {
	v := &contracts.ServiceOrderStatus{
		Metadata:       s.meta("service-order-status", st.Cmd.ServiceOrderID, step, st.Origin, contracts.SourceSystemERP),
		ServiceOrderID: st.Cmd.ServiceOrderID,
		CaseID:         st.Cmd.CaseID,
		Status:         status,
		Parts:          []contracts.PartUsed{},
	}
	if st.Cmd.CommandID != "" {
		v.CommandID = &st.Cmd.CommandID
	}
	if st.ERPID != "" {
		v.ERPServiceOrderID = &st.ERPID
	}
	return v
}

// serviceOrder answers erp.service-order-commands.v1: CREATE opens the
// order (CREATED, then SCHEDULED, PARTS_ISSUED — after PART_UNAVAILABLE
// for a share of orders, ISTHMUS_SIM_PART_SHORTAGE_BPS — and COMPLETED,
// each after ISTHMUS_SIM_SHIP_DELAY); a repeated CREATE gets the current
// status again; CANCEL cancels an order not completed yet.
func (s *Sim) serviceOrder(m *processor.Message, at time.Time, cmd *contracts.ServiceOrderCommand) error {
	if cmd.ServiceOrderID == "" || cmd.CaseID == "" {
		return errs.Poisonf(errs.ReasonValidation, "service order command %s has no service_order_id or case_id", cmd.CommandID)
	}
	o := originOf(m, cmd.Metadata)
	st, exists, err := serviceOrders.Get(m, cmd.ServiceOrderID)
	if err != nil {
		return err
	}
	lat := s.s.Latency.For(s.s.Rules, "service-order", cmd.ServiceOrderID, cmd.CommandID)
	// emitNow sends v after the latency (after the order's last status),
	// and saves the state.
	emitNow := func(v *contracts.ServiceOrderStatus, id string) error {
		rec := record(contracts.TopicERPServiceOrderStatusV1, cmd.ServiceOrderID, v)
		if err := s.emitLater(m, st.due(at.Add(lat)), cmd.ServiceOrderID+"/"+id, o, rec); err != nil {
			return err
		}
		return serviceOrders.Put(m, cmd.ServiceOrderID, st)
	}
	switch cmd.Action {
	case contracts.ServiceOrderActionCancel:
		if !exists {
			st = serviceOrderState{Cmd: *cmd, Origin: o, ERPID: erpServiceOrderID(cmd.ServiceOrderID)}
		}
		if st.Step == soDone || st.Last == contracts.ServiceOrderStateCancelled {
			v := s.soStatus(&st, st.Last, "cancel-refused-"+cmd.CommandID)
			msg := "CANCEL_REFUSED: the service order is already " + strings.ToLower(st.Last)
			v.Message = &msg
			return emitNow(v, "cancel/"+cmd.CommandID)
		}
		if st.Timer != "" {
			unschedule(m, st.Timer)
		}
		st.Step, st.Timer, st.Last = soDone, "", contracts.ServiceOrderStateCancelled
		return emitNow(s.soStatus(&st, contracts.ServiceOrderStateCancelled, "cancel-"+cmd.CommandID), "cancel/"+cmd.CommandID)
	case contracts.ServiceOrderActionCreate:
	default:
		return errs.Poisonf(errs.ReasonValidation, "service order command %s: unknown action %q", cmd.CommandID, cmd.Action)
	}
	if exists {
		// A re-sent CREATE: the current status again.
		return emitNow(s.soStatus(&st, st.Last, "repeat-"+cmd.CommandID), "repeat/"+cmd.CommandID)
	}
	st = serviceOrderState{Cmd: *cmd, Origin: o, ERPID: erpServiceOrderID(cmd.ServiceOrderID)}
	if cmd.Serial == "" || cmd.ServiceType == contracts.ServiceTypeUnknown || cmd.Coverage == contracts.CoverageNotEntitled {
		st.Step, st.Last = soDone, contracts.ServiceOrderStateRejected
		v := s.soStatus(&st, contracts.ServiceOrderStateRejected, "reject")
		msg := "REJECTED: a service order needs an asset serial, a service type and an entitled customer"
		v.Message = &msg
		return emitNow(v, "reject")
	}
	st.Last, st.Step = contracts.ServiceOrderStateCreated, soScheduled
	k, err := s.schedule(m, at.Add(lat+s.s.Ship.For(s.s.Rules, "service-schedule", cmd.ServiceOrderID)), timer{Kind: "service", ID: cmd.ServiceOrderID, Origin: o})
	if err != nil {
		return err
	}
	st.Timer = k
	return emitNow(s.soStatus(&st, contracts.ServiceOrderStateCreated, "create"), "create")
}

func erpServiceOrderID(id string) string {
	return "SO" + strings.ToUpper(strings.ReplaceAll(event.ID("service-order", id), "-", "")[:10])
}

// advanceServiceOrder emits the order's next status and schedules the one
// after.
func (s *Sim) advanceServiceOrder(m *processor.Message, now time.Time, key string, t *timer) error {
	st, ok, err := serviceOrders.Get(m, t.ID)
	if err != nil || !ok {
		return err
	}
	if st.Timer != key {
		return nil // superseded (cancelled)
	}
	st.Timer = ""
	id := st.Cmd.ServiceOrderID
	parts := partsFor(st.Cmd.SKU, st.Cmd.ServiceType)
	var v *contracts.ServiceOrderStatus
	next := soDone
	switch st.Step {
	case soScheduled:
		v = s.soStatus(&st, contracts.ServiceOrderStateScheduled, "schedule")
		tech := fmt.Sprintf("TECH-%02d", s.s.Rules.Roll("technician", id)%40+1)
		visit := now.Add(time.Duration(1+s.s.Rules.Roll("visit", id)%48) * time.Hour).UTC().Truncate(time.Minute)
		v.Technician, v.ScheduledFor = &tech, &visit
		next = soParts
	case soParts:
		if len(parts) > 0 && s.s.Rules.Roll("part-shortage", id) < s.s.Rules.PartShortageBps {
			v = s.soStatus(&st, contracts.ServiceOrderStatePartUnavailable, "shortage")
			msg := fmt.Sprintf("part %s on back order", parts[0].SKU)
			v.Message = &msg
			next = soWaiting
			break
		}
		fallthrough
	case soWaiting:
		v = s.soStatus(&st, contracts.ServiceOrderStatePartsIssued, "parts")
		v.Parts = parts
		next = soComplete
	case soComplete:
		v = s.soStatus(&st, contracts.ServiceOrderStateCompleted, "complete")
		minutes := 30 + 15*(s.s.Rules.Roll("labour", id)%11) // 30 min to 3 h, in quarter hours
		labour := int64(minutes) * labourRateCentsHour / 60
		total := labour
		for _, p := range parts {
			total += p.Quantity * p.UnitCost.AmountMinor
		}
		resolution := fmt.Sprintf("%s done on %s", strings.ToLower(strings.ReplaceAll(st.Cmd.ServiceType, "_", " ")), st.Cmd.Serial)
		v.Parts, v.LabourMinutes, v.Resolution = parts, minutes, &resolution
		v.LabourCost = &contracts.Money{AmountMinor: labour, Currency: costCurrency}
		v.TotalCost = &contracts.Money{AmountMinor: total, Currency: costCurrency}
		st.Cost = total
	default:
		return nil
	}
	st.Last, st.Step = v.Status, next
	st.due(now)
	if next != soDone {
		k, err := s.schedule(m, now.Add(s.s.Ship.For(s.s.Rules, "service-"+next, id)), timer{Kind: "service", ID: id, Origin: st.Origin})
		if err != nil {
			return err
		}
		st.Timer = k
	}
	if err := serviceOrders.Put(m, id, st); err != nil {
		return err
	}
	rec := record(contracts.TopicERPServiceOrderStatusV1, id, v)
	return s.emit(m, now, st.Origin, rec)
}

// warrantyClaim answers erp.warranty-claim-commands.v1 on
// erp.service-order-status.v1: CLAIM_REJECTED for an order not completed,
// an amount above the order's cost, or a share of claims
// (ISTHMUS_SIM_CLAIM_REJECT_BPS: the manufacturer finds misuse);
// CLAIM_ACCEPTED otherwise. A repeated claim gets the same answer.
func (s *Sim) warrantyClaim(m *processor.Message, at time.Time, cmd *contracts.WarrantyClaimCommand) error {
	if cmd.ServiceOrderID == "" || cmd.ClaimID == "" {
		return errs.Poisonf(errs.ReasonValidation, "warranty claim command %s has no service_order_id or claim_id", cmd.CommandID)
	}
	o := originOf(m, cmd.Metadata)
	st, exists, err := serviceOrders.Get(m, cmd.ServiceOrderID)
	if err != nil {
		return err
	}
	if !exists {
		st = serviceOrderState{Cmd: contracts.ServiceOrderCommand{ServiceOrderID: cmd.ServiceOrderID, CaseID: cmd.CaseID}, Origin: o}
	}
	status, msg := contracts.ServiceOrderStateClaimAccepted, "claim accepted by "+contracts.Deref(cmd.Provider)
	switch {
	case st.Claims[cmd.ClaimID] != "":
		status, msg = st.Claims[cmd.ClaimID], "claim "+cmd.ClaimID+" answered before"
	case st.Last != contracts.ServiceOrderStateCompleted:
		status, msg = contracts.ServiceOrderStateClaimRejected, "no completed service order "+cmd.ServiceOrderID+" to claim for"
	case cmd.Amount.Currency != costCurrency || cmd.Amount.AmountMinor > st.Cost:
		status, msg = contracts.ServiceOrderStateClaimRejected, fmt.Sprintf("claimed %d %s, the service order cost %d %s", cmd.Amount.AmountMinor, cmd.Amount.Currency, st.Cost, costCurrency)
	case s.s.Rules.Roll("claim", cmd.ClaimID) < s.s.Rules.ClaimRejectBps:
		status, msg = contracts.ServiceOrderStateClaimRejected, "failure not covered: signs of misuse found on inspection"
	}
	if st.Claims == nil {
		st.Claims = map[string]string{}
	}
	st.Claims[cmd.ClaimID] = status
	v := s.soStatus(&st, status, "claim-"+cmd.ClaimID+"-"+cmd.CommandID)
	cmdID, claim := cmd.CommandID, cmd.ClaimID
	v.CommandID, v.ClaimID, v.Message = &cmdID, &claim, &msg
	v.TotalCost = &contracts.Money{AmountMinor: cmd.Amount.AmountMinor, Currency: cmd.Amount.Currency}
	rec := record(contracts.TopicERPServiceOrderStatusV1, cmd.ServiceOrderID, v)
	if err := s.emitLater(m, st.due(at.Add(s.s.Latency.For(s.s.Rules, "claim", cmd.ClaimID))), cmd.ServiceOrderID+"/claim/"+cmd.CommandID, o, rec); err != nil {
		return err
	}
	if !exists {
		return nil // nothing to remember of an unknown order
	}
	return serviceOrders.Put(m, cmd.ServiceOrderID, st)
}
