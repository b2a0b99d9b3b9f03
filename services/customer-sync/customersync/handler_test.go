package customersync

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/services/customer-sync/internal/adapter"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
)

// The handler without a broker (pkg/processor/processortest): every input
// topic's happy path and bad input, through the runtime's whole chain, the
// route and match stages included. The same flows run on the real broker
// in the integration tests.

func newKit(t *testing.T) *processortest.Kit {
	t.Helper()
	h, err := NewHandler(golden.DefaultConfig(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return processortest.New(t, ProcessorConfig("test", h))
}

// send handles v on topic and fails on a transaction-aborting error or a
// dead letter.
func send(t *testing.T, k *processortest.Kit, topic, key string, v serde.Record) processortest.Result {
	t.Helper()
	res := k.SendValue(topic, key, v)
	if res.Err != nil {
		t.Fatalf("%s/%s: %v", topic, key, res.Err)
	}
	for _, dl := range res.DeadLetters(Name) {
		t.Fatalf("%s/%s dead-lettered: %s/%s: %s", topic, key, dl.Header(catalog.DLQHeaderErrorClass),
			dl.Header(catalog.DLQHeaderErrorReason), dl.Header(catalog.DLQHeaderErrorMessage))
	}
	return res
}

// decoded decodes the outputs of res to a public output topic, in order.
func decoded[T serde.Record](t *testing.T, k *processortest.Kit, res processortest.Result, topic string) []T {
	t.Helper()
	var out []T
	for _, o := range res.On(topic) {
		v, err := newOutput(topic)
		if err != nil {
			t.Fatal(err)
		}
		k.Decode(o, v)
		out = append(out, v.(T))
	}
	return out
}

// one is the only output of res to topic with key.
func one[T serde.Record](t *testing.T, k *processortest.Kit, res processortest.Result, topic, key string) T {
	t.Helper()
	var found []T
	all := decoded[T](t, k, res, topic)
	for i, o := range res.On(topic) {
		if o.Key == key {
			found = append(found, all[i])
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d records on %s with key %s, want 1 (keys: %v)", len(found), topic, key, keys(res, topic))
	}
	return found[0]
}

func keys(res processortest.Result, topic string) []string {
	var ks []string
	for _, o := range res.On(topic) {
		ks = append(ks, o.Key)
	}
	return ks
}

// tombstone deletes the source record key of topic and checks that its
// xref entry ref is retired.
func tombstone(t *testing.T, k *processortest.Kit, topic, key, ref string) processortest.Result {
	t.Helper()
	res := k.Send(topic, key, nil)
	if res.Err != nil || len(res.DeadLetters(Name)) != 0 {
		t.Fatalf("tombstone of %s/%s: %v %v", topic, key, res.Err, res.DeadLetters(Name))
	}
	if x := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, ref); x.Status != contracts.XrefStatusRetired {
		t.Errorf("xref %s after the tombstone = %+v", ref, x)
	}
	return res
}

func state(t *testing.T, k *processortest.Kit, store, key string) (string, bool) {
	t.Helper()
	v, ok := k.State(store, key)
	return string(v), ok
}

func TestAccount(t *testing.T) {
	k := newKit(t)
	in := account("A1", "Müller Maschinenbau GmbH", 1, func(a *contracts.Account) {
		a.Website, a.Phone, a.Status = str("https://www.mueller-mb.de"), str("089 1234567"), contracts.AccountStatusCustomer
		a.ShippingAddress = addr("Hauptstr. 5", "München", "80331", "DE")
	})
	res := send(t, k, contracts.TopicCRMAccountV1, "A1", in)

	x := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, "CRM:A1")
	g := one[*contracts.GoldenCustomer](t, k, res, contracts.TopicMDMCustomerV1, x.GoldenID)
	if g.Name != "Müller Maschinenbau GmbH" || *g.Domain != "mueller-mb.de" || *g.Phone != "+49891234567" || g.Status != contracts.GoldenStatusActive ||
		len(g.Members) != 1 || g.Members[0] != (contracts.SystemRef{System: contracts.SourceSystemCRM, ID: "A1"}) {
		t.Errorf("golden record = %+v", g)
	}
	// The outputs' metadata: ids from the source record's position, in
	// the input's flow, caused by it, at its time.
	base := idBase(contracts.TopicCRMAccountV1, 0, 0)
	md := g.Metadata
	if md.EventID != event.ID(base, "0") || md.CorrelationID != "corr-A1" || md.CausationID == nil || *md.CausationID != in.Metadata.EventID ||
		md.SourceSystem != contracts.SourceSystemCustomerSync || !md.OccurredAt.Equal(in.Metadata.OccurredAt) {
		t.Errorf("metadata = %+v", md)
	}
	// Every output, in the order emitted: the n-th has id event.ID(base, n).
	n := 0
	for _, o := range res.Outputs {
		v, err := newOutput(o.Topic)
		if err != nil {
			continue // internal topics
		}
		k.Decode(o, v)
		if md := metadataOf(v); md.EventID != event.ID(base, strconv.Itoa(n)) || md.CausationID == nil || *md.CausationID != in.Metadata.EventID {
			t.Errorf("output %d (%s/%s): metadata %+v", n, o.Topic, o.Key, md)
		}
		n++
	}
	cmd := one[*contracts.CustomerCommand](t, k, res, contracts.TopicERPCustomerCommandsV1, g.GoldenID)
	if cmd.Action != contracts.CustomerCommandActionCreate || cmd.CRMAccountID == nil || *cmd.CRMAccountID != "A1" || cmd.ShippingAddress.City != "München" {
		t.Errorf("command = %+v", cmd)
	}
	if n := len(res.On(contracts.TopicAuditFieldChangeV1)); n < 5 {
		t.Errorf("%d audit entries for the new record, want one per attribute", n)
	}

	// State: the sticky block on the input partition, the block
	// registered with the route stage, one applied event, the record.
	block, _ := golden.BlockOfID(g.GoldenID)
	if v, _ := state(t, k, RouteStore, stickyKey+"CRM:A1"); v != block {
		t.Errorf("sticky block = %q, want %q", v, block)
	}
	if v, _ := state(t, k, RouteStore, routeKey+"CRM:A1"); v != block {
		t.Errorf("registered block = %q, want %q", v, block)
	}
	if v, _ := state(t, k, Store, seqKey); v != "1" {
		t.Errorf("applied = %q, want 1", v)
	}
	if _, ok := state(t, k, Store, "g/"+g.GoldenID); !ok {
		t.Error("golden record not in the store")
	}

	// A change: the same record, a new version; a replay of nothing new
	// emits no ERP command again.
	res = send(t, k, contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 2, func(a *contracts.Account) {
		a.Website, a.Phone, a.Status, a.Industry = str("https://www.mueller-mb.de"), str("089 1234567"), contracts.AccountStatusCustomer, str("Machinery")
		a.ShippingAddress = addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	if g2 := one[*contracts.GoldenCustomer](t, k, res, contracts.TopicMDMCustomerV1, g.GoldenID); g2.Version != g.Version+1 || g2.Industry == nil || *g2.Industry != "Machinery" {
		t.Errorf("changed record = %+v", g2)
	}
	if v, _ := state(t, k, Store, seqKey); v != "2" {
		t.Errorf("applied = %q, want 2", v)
	}

	// A CRM delete (tombstone) retires the membership.
	res = tombstone(t, k, contracts.TopicCRMAccountV1, "A1", "CRM:A1")
	tomb := idBase(contracts.TopicCRMAccountV1, 0, 2)
	if md := decoded[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1)[0].Metadata; md.CausationID == nil ||
		*md.CausationID != event.ID(tomb, "tombstone") || md.CorrelationID != event.ID(tomb) {
		t.Errorf("tombstone output metadata = %+v", md)
	}
}

func TestContactWaitsForItsAccount(t *testing.T) {
	k := newKit(t)
	res := send(t, k, contracts.TopicCRMContactV1, "C9", contact("C9", "A9", "Nordmann", 1, func(x *contracts.Contact) {
		x.FirstName, x.Email = str("Ola"), str("Ola@Fjord.no")
	}))
	if n := len(res.On(contracts.TopicMDMContactV1)); n != 0 {
		t.Fatalf("%d golden contacts before the account", n)
	}
	raw, ok := state(t, k, RouteStore, waitingKey+"CRM:A9")
	var list []waiting
	if !ok || json.Unmarshal([]byte(raw), &list) != nil || len(list) != 1 || list[0].Topic != contracts.TopicCRMContactV1 || list[0].Key != "C9" {
		t.Fatalf("waiting list = %q", raw)
	}

	res = send(t, k, contracts.TopicCRMAccountV1, "A9", account("A9", "Fjord Shipping AS", 2, func(a *contracts.Account) {
		a.BillingAddress = addr("Kai 1", "Bergen", "5003", "NO")
	}))
	x := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, "CRM:A9")
	cs := decoded[*contracts.GoldenContact](t, k, res, contracts.TopicMDMContactV1)
	if len(cs) != 1 || cs[0].GoldenID != x.GoldenID || cs[0].Email == nil || *cs[0].Email != "ola@fjord.no" || cs[0].FullName == nil ||
		*cs[0].FullName != "Ola Nordmann" || !slices.Equal(cs[0].Members, []string{"C9"}) {
		t.Errorf("golden contacts = %+v", cs)
	}
	if _, ok := state(t, k, RouteStore, waitingKey+"CRM:A9"); ok {
		t.Error("the released contact still waits")
	}
}

func TestERPCustomer(t *testing.T) {
	k := newKit(t)
	res := send(t, k, contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 1, func(a *contracts.Account) {
		a.Status, a.ShippingAddress = contracts.AccountStatusCustomer, addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	g := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, "CRM:A1").GoldenID
	cmd := one[*contracts.CustomerCommand](t, k, res, contracts.TopicERPCustomerCommandsV1, g)

	// ERP answers the CREATE: linked by golden_id; ERP-owned fields go
	// back to CRM.
	res = send(t, k, contracts.TopicERPCustomerV1, "100042", customer("100042", "Müller Maschinenbau GmbH", 2, func(x *contracts.Customer) {
		x.GoldenID, x.CommandID = &g, &cmd.CommandID
		x.PaymentTerms, x.CreditStatus = str("NET30"), contracts.CreditStatusHold
		x.CreditLimit = &contracts.Money{AmountMinor: 5_000_000, Currency: "EUR"}
		x.BillingAddress = addr("Marienplatz 1", "München", "80331", "DE")
	}))
	if x := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, "ERP:100042"); x.GoldenID != g || len(x.OtherIds) != 1 || x.OtherIds[0].ID != "A1" {
		t.Errorf("xref ERP:100042 = %+v", x)
	}
	upd := one[*contracts.AccountUpdate](t, k, res, contracts.TopicCRMAccountUpdatesV1, "A1")
	if upd.ERPCustomerID == nil || *upd.ERPCustomerID != "100042" || *upd.PaymentTerms != "NET30" || upd.CreditStatus != contracts.CreditStatusHold ||
		upd.CreditLimit.AmountMinor != 5_000_000 {
		t.Errorf("account update = %+v", upd)
	}
	if gc := one[*contracts.GoldenCustomer](t, k, res, contracts.TopicMDMCustomerV1, g); gc.ERPCustomerID == nil || *gc.ERPCustomerID != "100042" {
		t.Errorf("golden record = %+v", gc)
	}

	// An ERP tombstone retires the ERP membership.
	tombstone(t, k, contracts.TopicERPCustomerV1, "100042", "ERP:100042")
}

func TestLead(t *testing.T) {
	k := newKit(t)
	res := send(t, k, contracts.TopicCRMAccountV1, "A1", account("A1", "Initech LLC", 1, func(a *contracts.Account) {
		a.Website, a.BillingAddress = str("initech.com"), addr("1 Main St", "Austin", "73301", "US")
	}))
	g := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, "CRM:A1").GoldenID

	leadUpdate := func(res processortest.Result, id string) contracts.LeadUpdate {
		t.Helper()
		outs := res.On(contracts.TopicCRMLeadUpdatesV1)
		if len(outs) != 1 || outs[0].Key != id {
			t.Fatalf("lead updates: %v", keys(res, contracts.TopicCRMLeadUpdatesV1))
		}
		var u contracts.LeadUpdate
		k.Decode(outs[0], &u)
		return u
	}
	res = send(t, k, contracts.TopicCRMLeadV1, "L1", lead("L1", "Initech LLC", 2, func(l *contracts.Lead) {
		l.Website, l.Country = str("initech.com"), str("US")
	}))
	if u := leadUpdate(res, "L1"); u.Outcome != contracts.LeadConversionOutcomeExistingCustomer || u.GoldenID == nil || *u.GoldenID != g ||
		u.AccountID == nil || *u.AccountID != "A1" {
		t.Errorf("lead of a known company: %+v", u)
	}
	res = send(t, k, contracts.TopicCRMLeadV1, "L2", lead("L2", "Globex Corporation", 3, func(l *contracts.Lead) {
		l.Website, l.Country = str("globex.example"), str("US")
	}))
	if u := leadUpdate(res, "L2"); u.Outcome != contracts.LeadConversionOutcomeNewAccount || u.GoldenID != nil {
		t.Errorf("lead of a new company: %+v", u)
	}
	if n := len(res.On(contracts.TopicMDMCustomerV1)); n != 0 {
		t.Errorf("a lead created %d golden records", n)
	}
	// A lead that is not qualified is not for customer-sync.
	res = send(t, k, contracts.TopicCRMLeadV1, "L3", lead("L3", "Hooli", 4, func(l *contracts.Lead) { l.Status = contracts.LeadStatusOpen }))
	if len(res.Outputs) != 0 {
		t.Errorf("an open lead emitted %v", res.Outputs)
	}
}

// conflict sets up an OWNERSHIP_CONFLICT: CRM changes the tax id, which
// the ERP owns.
func conflict(t *testing.T, k *processortest.Kit) (golden string, x *contracts.OperationalException) {
	t.Helper()
	res := send(t, k, contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 1, func(a *contracts.Account) {
		a.Status, a.ShippingAddress = contracts.AccountStatusCustomer, addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	g := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, "CRM:A1").GoldenID
	cmd := one[*contracts.CustomerCommand](t, k, res, contracts.TopicERPCustomerCommandsV1, g)
	send(t, k, contracts.TopicERPCustomerV1, "100042", customer("100042", "Müller Maschinenbau GmbH", 2, func(x *contracts.Customer) {
		x.GoldenID, x.CommandID, x.TaxID = &g, &cmd.CommandID, str("DE 123 456 789")
		x.BillingAddress = addr("Marienplatz 1", "München", "80331", "DE")
	}))
	res = send(t, k, contracts.TopicCRMAccountV1, "A1", account("A1", "Müller Maschinenbau GmbH", 3, func(a *contracts.Account) {
		a.Status, a.TaxID = contracts.AccountStatusCustomer, str("DE999999999")
		a.ShippingAddress = addr("Hauptstr. 5", "München", "80331", "DE")
	}))
	xs := decoded[*contracts.OperationalException](t, k, res, contracts.TopicOpsExceptionsV1)
	if len(xs) != 1 {
		t.Fatalf("%d exceptions, want the conflict", len(xs))
	}
	return g, xs[0]
}

func decision(id, exception, action string, n int, params map[string]string) *contracts.Decision {
	md := meta(id, n)
	md.SourceSystem = contracts.SourceSystemOperator
	return &contracts.Decision{Metadata: md, DecisionID: id, ExceptionID: exception, OwnerService: golden.Owner.Service, Action: action,
		Actor: "steward@example.com", Parameters: params, ApprovedBy: []string{}}
}

func TestDecisions(t *testing.T) {
	k := newKit(t)
	g, x := conflict(t, k)
	if x.Category != contracts.ExceptionCategoryOwnershipConflict || x.Queue != contracts.ExceptionQueueMasterData || x.Severity != contracts.SeverityLow ||
		x.Status != contracts.ExceptionStatusOpen || x.OwnerService != Name || x.SuggestedAction == nil || x.DecisionID != nil ||
		!slices.Equal(x.AllowedActions, adapter.AllowedActions(golden.OwnershipConflict)) ||
		x.EntityIds["golden_id"] != g || x.EntityIds["crm_account_id"] != "A1" {
		t.Errorf("conflict exception = %+v", x)
	}
	if cat, eg, ok := golden.ExceptionOf(x.ExceptionID); !ok || cat != golden.OwnershipConflict || eg != g {
		t.Errorf("exception id %q names %q, %q, %v", x.ExceptionID, cat, eg, ok)
	}

	// An action the category does not allow: the exception back OPEN with
	// the reason, answering the decision; nothing dead-lettered.
	res := send(t, k, contracts.TopicOpsDecisionsV1, x.ExceptionID, decision("d-merge", x.ExceptionID, contracts.DecisionActionMerge, 10, nil))
	refused := one[*contracts.OperationalException](t, k, res, contracts.TopicOpsExceptionsV1, x.ExceptionID)
	if refused.Status != contracts.ExceptionStatusOpen || refused.DecisionID == nil || *refused.DecisionID != "d-merge" || refused.SuggestedAction != nil ||
		refused.Context["outcome"] == "" || !slices.Equal(refused.AllowedActions, adapter.AllowedActions(golden.OwnershipConflict)) {
		t.Errorf("refusal = %+v", refused)
	}

	// PICK_SURVIVOR settles it: the value applied, the exception RESOLVED.
	pick := decision("d-pick", x.ExceptionID, contracts.DecisionActionPickSurvivor, 11, map[string]string{adapter.ParamField: "tax_id", adapter.ParamValue: "DE999999999"})
	res = send(t, k, contracts.TopicOpsDecisionsV1, x.ExceptionID, pick)
	done := one[*contracts.OperationalException](t, k, res, contracts.TopicOpsExceptionsV1, x.ExceptionID)
	if done.Status != contracts.ExceptionStatusResolved || done.DecisionID == nil || *done.DecisionID != "d-pick" || len(done.AllowedActions) != 0 ||
		done.SuggestedAction != nil || done.Queue != contracts.ExceptionQueueMasterData {
		t.Errorf("resolution = %+v", done)
	}
	if gc := one[*contracts.GoldenCustomer](t, k, res, contracts.TopicMDMCustomerV1, g); gc.TaxID == nil || *gc.TaxID != "DE999999999" {
		t.Errorf("golden record after PICK_SURVIVOR = %+v", gc)
	}
	if _, ok := state(t, k, RouteStore, decisionKey+"d-pick"); !ok {
		t.Error("decision id not remembered")
	}
	// The same decision again is a no-op, as is another service's.
	if res := send(t, k, contracts.TopicOpsDecisionsV1, x.ExceptionID, pick); len(res.Outputs) != 0 {
		t.Errorf("a repeated decision emitted %d records", len(res.Outputs))
	}
	other := decision("d-other", "qto:credit:Q1", contracts.DecisionActionResolve, 12, nil)
	other.OwnerService = "quote-to-order"
	if res := send(t, k, contracts.TopicOpsDecisionsV1, other.ExceptionID, other); len(res.Outputs) != 0 {
		t.Errorf("another service's decision emitted %d records", len(res.Outputs))
	}

	// Exception ids of the older form ("exc-…", golden.Owner.Legacy) are
	// still customer-sync's, taken as before without the field checks: a
	// RESOLVE needs nothing, a MERGE naming its golden ids merges.
	legacy := decision("d-legacy-0", "exc-0f", contracts.DecisionActionResolve, 14, nil)
	legacy.Actor = ""
	if res := send(t, k, contracts.TopicOpsDecisionsV1, legacy.ExceptionID, legacy); len(res.Outputs) != 0 {
		t.Errorf("a RESOLVE of an older-form exception emitted %d records", len(res.Outputs))
	}
	res = send(t, k, contracts.TopicCRMAccountV1, "B1", account("B1", "Zeppelin Luftschiffbau AG", 15, func(a *contracts.Account) {
		a.BillingAddress = addr("Allmannstr. 1", "Friedrichshafen", "88045", "DE")
	}))
	g2 := one[*contracts.CrossReference](t, k, res, contracts.TopicMDMXrefV1, "CRM:B1").GoldenID
	merge := decision("d-legacy-1", "exc-legacy-1", contracts.DecisionActionMerge, 16, map[string]string{adapter.ParamSurvivor: g, adapter.ParamMerged: g2})
	res = send(t, k, contracts.TopicOpsDecisionsV1, merge.ExceptionID, merge)
	if away := one[*contracts.GoldenCustomer](t, k, res, contracts.TopicMDMCustomerV1, g2); away.MergedInto == nil || *away.MergedInto != g {
		t.Errorf("merged-away record after an older-form MERGE = %+v", away)
	}

	// A decision naming a golden id without a match block cannot be
	// routed: refused, not dead-lettered.
	bad := golden.Owner.ExceptionID(golden.OwnershipConflict, "nope", "0f")
	res = send(t, k, contracts.TopicOpsDecisionsV1, bad, decision("d-bad", bad, contracts.DecisionActionResolve, 13, nil))
	if r := one[*contracts.OperationalException](t, k, res, contracts.TopicOpsExceptionsV1, bad); r.Status != contracts.ExceptionStatusOpen ||
		r.DecisionID == nil || *r.DecisionID != "d-bad" {
		t.Errorf("refusal of an unroutable decision = %+v", r)
	}
}

// Own state the service cannot read back follows the processor's one
// policy (processor.CorruptState): a golden entry State.Load refuses makes
// the match stage fail retriably, reason corrupt_state naming the store and
// key, with no output and nothing dead-lettered; a route-store view's
// unreadable value does the same.
func TestCorruptOwnState(t *testing.T) {
	k := newKit(t)
	k.Seed(Store, "g/cus-4445000000000001", []byte("not a record"))
	res := k.SendValue(contracts.TopicCRMAccountV1, "A1", account("A1", "Acme GmbH", 1, nil))
	if errs.ClassOf(res.Err) != errs.ClassRetriable || errs.ReasonOf(res.Err) != string(errs.ReasonCorruptState) ||
		!strings.Contains(res.Err.Error(), `golden/"g/cus-4445000000000001"`) {
		t.Errorf("err = %v, want retriable corrupt_state naming the entry", res.Err)
	}
	if len(res.DeadLetters(Name)) != 0 || len(res.On(contracts.TopicMDMCustomerV1)) != 0 {
		t.Errorf("outputs %v despite unreadable state", res.Outputs)
	}

	k = newKit(t)
	k.Seed(RouteStore, waitingKey+"CRM:A9", []byte("[{"))
	res = k.SendValue(contracts.TopicCRMContactV1, "K9", contact("K9", "A9", "Muster", 1, nil))
	if errs.ClassOf(res.Err) != errs.ClassRetriable || errs.ReasonOf(res.Err) != string(errs.ReasonCorruptState) {
		t.Errorf("err = %v, want retriable corrupt_state", res.Err)
	}
}

// Bad input on every input topic is dead-lettered with its original
// topic, offset and bytes; state and other outputs are left alone.
func TestHandlerBadInput(t *testing.T) {
	unknownSchema := []byte{0, 0, 0, 0, 0, 2, 'x'}
	binary.BigEndian.PutUint32(unknownSchema[1:5], 0x7ffffff0)
	k := newKit(t)
	enc := func(topic string, v serde.Record) []byte { return k.Encode(topic, v) }
	tests := []struct {
		name, topic string
		reason      errs.Reason
		value       []byte
	}{
		{"account: bad bytes", contracts.TopicCRMAccountV1, "", []byte("not avro")},
		{"account: unknown schema id", contracts.TopicCRMAccountV1, "", unknownSchema},
		{"account: no name", contracts.TopicCRMAccountV1, errs.ReasonValidation, enc(contracts.TopicCRMAccountV1, account("X1", "", 1, nil))},
		{"account: invalid country", contracts.TopicCRMAccountV1, errs.ReasonValidation, enc(contracts.TopicCRMAccountV1, account("X2", "Acme GmbH", 1, func(a *contracts.Account) {
			a.BillingAddress = addr("x", "y", "1", "Germany")
		}))},
		{"account: unknown op", contracts.TopicCRMAccountV1, errs.ReasonContract, enc(contracts.TopicCRMAccountV1, account("X3", "Acme GmbH", 1, func(a *contracts.Account) {
			a.Op = contracts.ChangeOperationUnknown
		}))},
		{"contact: bad bytes", contracts.TopicCRMContactV1, "", []byte{0}},
		{"contact: unknown schema id", contracts.TopicCRMContactV1, "", unknownSchema},
		{"contact: no name and no e-mail", contracts.TopicCRMContactV1, errs.ReasonValidation, enc(contracts.TopicCRMContactV1, contact("K1", "A1", "", 1, nil))},
		{"customer: bad bytes", contracts.TopicERPCustomerV1, "", []byte("{}")},
		{"customer: unknown schema id", contracts.TopicERPCustomerV1, "", unknownSchema},
		{"customer: bad credit limit", contracts.TopicERPCustomerV1, errs.ReasonValidation, enc(contracts.TopicERPCustomerV1, customer("E1", "Acme GmbH", 1, func(c *contracts.Customer) {
			c.CreditLimit = &contracts.Money{AmountMinor: 1, Currency: "EURO"}
		}))},
		{"decision: bad bytes", contracts.TopicOpsDecisionsV1, "", []byte("x")},
		{"decision: unknown schema id", contracts.TopicOpsDecisionsV1, "", unknownSchema},
		{"decision: a merge without golden ids or exception", contracts.TopicOpsDecisionsV1, errs.ReasonInvalidDecision,
			enc(contracts.TopicOpsDecisionsV1, decision("d-1", "", contracts.DecisionActionMerge, 1, nil))},
		{"decision: no actor", contracts.TopicOpsDecisionsV1, errs.ReasonInvalidDecision, enc(contracts.TopicOpsDecisionsV1, func() *contracts.Decision {
			d := decision("d-2", golden.Owner.ExceptionID(golden.OwnershipConflict, "cus-4445000000000001", "0f"), contracts.DecisionActionResolve, 1, nil)
			d.Actor = ""
			return d
		}())},
		{"decision: an exception id that is not customer-sync's", contracts.TopicOpsDecisionsV1, errs.ReasonUnknownException,
			enc(contracts.TopicOpsDecisionsV1, decision("d-3", "qto:credit:Q1", contracts.DecisionActionResolve, 1, nil))},
		{"lead: bad bytes", contracts.TopicCRMLeadV1, "", []byte("lead")},
		{"lead: unknown schema id", contracts.TopicCRMLeadV1, "", unknownSchema},
		{"lead: qualified without a company", contracts.TopicCRMLeadV1, errs.ReasonValidation, enc(contracts.TopicCRMLeadV1, lead("L1", "", 1, nil))},
		{"match topic: no origin", TopicMatch, errs.ReasonContract, enc(contracts.TopicCRMAccountV1, account("X4", "Acme GmbH", 1, nil))},
		{"route topic: no origin", TopicRoute, errs.ReasonContract, enc(contracts.TopicCRMAccountV1, account("X5", "Acme GmbH", 1, nil))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := k.Send(tc.topic, "K", tc.value)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			dl := res.DeadLetters(Name)
			if len(dl) != 1 || len(res.Outputs) != 1 || len(res.Writes) != 0 {
				t.Fatalf("%d outputs (%d dead letters), %d writes: want exactly one dead letter", len(res.Outputs), len(dl), len(res.Writes))
			}
			h := func(k string) string { return dl[0].Header(k) }
			if h(catalog.DLQHeaderTopic) != tc.topic || h(catalog.DLQHeaderErrorClass) != "poison" || h(catalog.DLQHeaderService) != Name ||
				h(catalog.DLQHeaderErrorMessage) == "" || string(dl[0].Value) != string(tc.value) {
				t.Errorf("dead letter headers %v", dl[0].Headers)
			}
			if tc.reason != "" && h(catalog.DLQHeaderErrorReason) != string(tc.reason) {
				t.Errorf("reason %q, want %q (%s)", h(catalog.DLQHeaderErrorReason), tc.reason, h(catalog.DLQHeaderErrorMessage))
			}
		})
	}
	// The partition flows on: a good record after the bad ones.
	send(t, k, contracts.TopicCRMAccountV1, "OK-1", account("OK-1", "Initech LLC", 2, nil))
}
