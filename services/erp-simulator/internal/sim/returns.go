package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
)

// Stores of the returns side.
const (
	StoreReturns = "returns" // return id → returnState
	StoreAssets  = "assets"  // serial → contracts.Asset as last published (TopicAssets' partitions)
)

// Steps of a return order.
const (
	rtReceive = "receive" // next: RECEIVED
	rtInspect = "inspect" // next: INSPECTED
	rtCredit  = "credit"  // waiting for a CREDIT command
	rtDone    = "done"
)

type returnState struct {
	Cmd    contracts.ReturnCommand      `json:"cmd"` // the CREATE
	Origin origin                       `json:"origin"`
	RMA    string                       `json:"rma"`
	Step   string                       `json:"step"`
	Timer  string                       `json:"timer,omitempty"`
	Last   string                       `json:"last,omitempty"`
	Lines  []contracts.ReturnLineStatus `json:"lines,omitempty"`
	Credit *contracts.ReturnStatus      `json:"credit,omitempty"` // the CREDITED answer, once given
	answerOrder
	Seen map[string]bool `json:"seen,omitempty"` // command ids answered
}

func (s *Sim) rtStatus(st *returnState, status, step, cmdID string) *contracts.ReturnStatus {
	v := &contracts.ReturnStatus{
		Metadata: s.meta("return-status", st.Cmd.ReturnID, step, st.Origin, contracts.SourceSystemERP),
		ReturnID: st.Cmd.ReturnID,
		Status:   status,
		Lines:    append([]contracts.ReturnLineStatus{}, st.Lines...),
	}
	if cmdID != "" {
		v.CommandID = &cmdID
	}
	if st.RMA != "" {
		v.RmaNumber = &st.RMA
	}
	return v
}

// returnOrder answers erp.return-commands.v1: CREATE opens a return order
// (CREATED, then RECEIVED after ISTHMUS_SIM_SHIP_DELAY — received serials
// become RETURNED in the installed base — then INSPECTED after
// ISTHMUS_SIM_INVOICE_DELAY, refusing each unit with
// ISTHMUS_SIM_INSPECTION_REFUSE_BPS); CANCEL cancels it before receipt;
// CREDIT issues the credit memo for at most the accepted units at their
// price. A command id seen before changes nothing.
func (s *Sim) returnOrder(m *processor.Message, at time.Time, cmd *contracts.ReturnCommand) error {
	if cmd.ReturnID == "" {
		return errs.Poisonf(errs.ReasonValidation, "return command %s has no return_id", cmd.CommandID)
	}
	o := originOf(m, cmd.Metadata)
	st, exists, err := returnOrders.Get(m, cmd.ReturnID)
	if err != nil {
		return err
	}
	if exists && st.Seen[cmd.CommandID] {
		return nil
	}
	if !exists {
		st = returnState{Cmd: *cmd, Origin: o}
	}
	if st.Seen == nil {
		st.Seen = map[string]bool{}
	}
	st.Seen[cmd.CommandID] = true
	lat := s.s.Latency.For(s.s.Rules, "return", cmd.ReturnID, cmd.CommandID)
	answer := func(v *contracts.ReturnStatus, msg string) error {
		if msg != "" {
			v.Message = &msg
		}
		rec := record(contracts.TopicERPReturnStatusV1, cmd.ReturnID, v)
		if err := s.emitLater(m, st.due(at.Add(lat)), cmd.ReturnID+"/"+cmd.CommandID, o, rec); err != nil {
			return err
		}
		return returnOrders.Put(m, cmd.ReturnID, st)
	}
	switch cmd.Action {
	case contracts.ReturnActionCreate:
		if exists && st.RMA != "" {
			return answer(s.rtStatus(&st, st.Last, "repeat-"+cmd.CommandID, cmd.CommandID), "return already open")
		}
		if reason := checkReturn(cmd); reason != "" {
			st.Step, st.Last = rtDone, contracts.ReturnStateRejected
			return answer(s.rtStatus(&st, contracts.ReturnStateRejected, "reject-"+cmd.CommandID, cmd.CommandID), "RMA refused: "+reason)
		}
		st.Cmd, st.RMA = *cmd, "RMA"+strings.ToUpper(strings.ReplaceAll(event.ID("rma", cmd.ReturnID), "-", "")[:10])
		st.Step, st.Last = rtReceive, contracts.ReturnStateCreated
		k, err := s.schedule(m, at.Add(lat+s.s.Ship.For(s.s.Rules, "return-receive", cmd.ReturnID)), timer{Kind: "return", ID: cmd.ReturnID, Origin: o})
		if err != nil {
			return err
		}
		st.Timer = k
		return answer(s.rtStatus(&st, contracts.ReturnStateCreated, "create", cmd.CommandID), "")
	case contracts.ReturnActionCancel:
		if st.Step != rtReceive {
			return answer(s.rtStatus(&st, st.Last, "cancel-refused-"+cmd.CommandID, cmd.CommandID), "CANCEL_REFUSED: the return is "+strings.ToLower(st.Last))
		}
		unschedule(m, st.Timer)
		st.Step, st.Timer, st.Last = rtDone, "", contracts.ReturnStateCancelled
		return answer(s.rtStatus(&st, contracts.ReturnStateCancelled, "cancel-"+cmd.CommandID, cmd.CommandID), "")
	case contracts.ReturnActionCredit:
		if st.Credit != nil {
			v := *st.Credit
			v.Metadata = s.meta("return-status", cmd.ReturnID, "credit-repeat-"+cmd.CommandID, o, contracts.SourceSystemERP)
			v.CommandID = &cmd.CommandID
			return answer(&v, "credit memo issued before")
		}
		if st.Step != rtCredit {
			return answer(s.rtStatus(&st, contracts.ReturnStateRejected, "credit-refused-"+cmd.CommandID, cmd.CommandID), "credit refused: the return has not been inspected")
		}
		var max int64
		for i, l := range st.Lines {
			max += l.Accepted * st.Cmd.Lines[i].UnitPrice.AmountMinor
		}
		if cmd.CreditAmount == nil || cmd.CreditAmount.Currency != st.Cmd.Currency || cmd.CreditAmount.AmountMinor <= 0 || cmd.CreditAmount.AmountMinor > max {
			return answer(s.rtStatus(&st, contracts.ReturnStateRejected, "credit-refused-"+cmd.CommandID, cmd.CommandID),
				fmt.Sprintf("credit refused: at most %d %s for the accepted units", max, st.Cmd.Currency))
		}
		v := s.rtStatus(&st, contracts.ReturnStateCredited, "credit", cmd.CommandID)
		memo := "CM" + strings.ToUpper(strings.ReplaceAll(event.ID("credit-memo", cmd.ReturnID), "-", "")[:10])
		v.CreditMemoID, v.CreditAmount = &memo, &contracts.Money{AmountMinor: cmd.CreditAmount.AmountMinor, Currency: cmd.CreditAmount.Currency}
		st.Credit, st.Step, st.Last = v, rtDone, contracts.ReturnStateCredited
		return answer(v, "")
	}
	return errs.Poisonf(errs.ReasonValidation, "return command %s: unknown action %q", cmd.CommandID, cmd.Action)
}

// checkReturn is why ERP refuses to open a return ("" when it opens it).
func checkReturn(cmd *contracts.ReturnCommand) string {
	if cmd.ERPCustomerID == "" {
		return "no customer"
	}
	if len(cmd.Lines) == 0 {
		return "no lines"
	}
	for _, l := range cmd.Lines {
		switch {
		case l.Quantity <= 0:
			return fmt.Sprintf("line %d: quantity %d", l.LineNumber, l.Quantity)
		case l.UnitPrice.Currency != cmd.Currency:
			return fmt.Sprintf("line %d: price in %s, return in %s", l.LineNumber, l.UnitPrice.Currency, cmd.Currency)
		case len(l.Serials) > 0 && int64(len(l.Serials)) != l.Quantity:
			return fmt.Sprintf("line %d: %d serials for %d units", l.LineNumber, len(l.Serials), l.Quantity)
		}
	}
	return ""
}

// advanceReturn emits RECEIVED (and the returned assets) or INSPECTED.
func (s *Sim) advanceReturn(m *processor.Message, now time.Time, key string, t *timer) error {
	st, ok, err := returnOrders.Get(m, t.ID)
	if err != nil || !ok || st.Timer != key {
		return err
	}
	st.Timer = ""
	id := st.Cmd.ReturnID
	var v *contracts.ReturnStatus
	switch st.Step {
	case rtReceive:
		st.Lines = nil
		for _, l := range st.Cmd.Lines {
			st.Lines = append(st.Lines, contracts.ReturnLineStatus{LineNumber: l.LineNumber, SKU: l.SKU, Received: l.Quantity})
			for _, serial := range l.Serials {
				if err := returnAsset(m, serial, id, st.Origin); err != nil {
					return err
				}
			}
		}
		v = s.rtStatus(&st, contracts.ReturnStateReceived, "receive", "")
		st.Step = rtInspect
		k, err := s.schedule(m, now.Add(s.s.Invoice.For(s.s.Rules, "return-inspect", id)), timer{Kind: "return", ID: id, Origin: st.Origin})
		if err != nil {
			return err
		}
		st.Timer = k
	case rtInspect:
		for i := range st.Lines {
			l := &st.Lines[i]
			for u := range l.Received {
				if s.s.Rules.Roll("inspection", id, fmt.Sprint(l.LineNumber), fmt.Sprint(u)) < s.s.Rules.InspectionRefuseBps {
					l.Refused++
				}
			}
			l.Accepted = l.Received - l.Refused
			if l.Refused > 0 {
				reason := "damaged beyond normal wear"
				l.RefusalReason = &reason
			}
		}
		v = s.rtStatus(&st, contracts.ReturnStateInspected, "inspect", "")
		st.Step = rtCredit
	default:
		return nil
	}
	st.Last = v.Status
	st.due(now)
	if err := returnOrders.Put(m, id, st); err != nil {
		return err
	}
	r := record(contracts.TopicERPReturnStatusV1, id, v)
	return s.emit(m, now, st.Origin, r)
}
