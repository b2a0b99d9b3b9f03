//go:build integration

package fieldservice_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor/processortest"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// env is a field-service flow on the real broker: the real gateway (its
// entitlement answers from Redis read models of the assets produced here),
// the real ERP simulator answering service orders, warranty claims and
// journals (no traffic of its own), and field-service instances as child
// processes.
type env struct {
	t       *testing.T
	prefix  string
	brokers []string
	sd      *serde.Serde
	in      *testinfra.Producer
	fsEnv   map[string]string
	fsBin   string

	// col collects the watched topics (logical names); lock files the
	// records taken since into the fields below, counted in taken.
	col     *testinfra.Collector
	watched []string
	taken   map[string]int

	mu      sync.Mutex
	updates map[string][]contracts.CaseUpdate // case id → updates, in order
	orders  []contracts.ServiceOrderCommand
	claims  []contracts.WarrantyClaimCommand
	returns []contracts.ReturnCommand
	jcmds   []contracts.JournalCommand
	answers map[string]contracts.Journal // journal command id → ERP answer
	excs    map[string][]contracts.OperationalException
	dlq     []*kgo.Record
	events  map[string]int // event id → times seen (case updates)
}

var today = time.Now().UTC().Truncate(24 * time.Hour)

func newEnv(t *testing.T, sim map[string]string) *env {
	t.Helper()
	e := &env{t: t, brokers: testinfra.Brokers(t), prefix: fmt.Sprintf("fsv%d.", time.Now().UnixNano()),
		updates: map[string][]contracts.CaseUpdate{}, answers: map[string]contracts.Journal{}, excs: map[string][]contracts.OperationalException{}, events: map[string]int{}}
	reg := testinfra.RegistryURL(t)
	testinfra.Provision(t, e.brokers, reg, e.prefix)
	e.sd = serde.New(testinfra.RegistryClient(t))
	e.in = testinfra.NewProducer(t, testinfra.NewClient(t, e.brokers), e.sd, e.prefix)
	common := map[string]string{"ISTHMUS_KAFKA_BROKERS": strings.Join(e.brokers, ","), "ISTHMUS_TOPIC_PREFIX": e.prefix,
		"ISTHMUS_SCHEMA_REGISTRY_URL": reg, "ISTHMUS_LOG_LEVEL": "warn"}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range common {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	issuer := testinfra.NewIssuer(t, "fsv-test")
	gwGRPC, gwAdmin := testinfra.FreeAddr(t), testinfra.FreeAddr(t)
	gw := testinfra.NewProgram(t, "gateway", testinfra.Build(t, "../../gateway"), with(map[string]string{
		"ISTHMUS_REDIS_URL": testinfra.StartRedis(t), "ISTHMUS_GATEWAY_GRPC_ADDR": gwGRPC, "ISTHMUS_GATEWAY_HTTP_ADDR": testinfra.FreeAddr(t),
		"ISTHMUS_ADMIN_ADDR": gwAdmin, "ISTHMUS_GATEWAY_JWKS_URL": issuer.JWKSURL, "ISTHMUS_GATEWAY_RATE_LIMIT": "0", "ISTHMUS_INSTANCE_ID": "gw"}))
	gw.Start()
	simEnv := with(map[string]string{"ISTHMUS_SIM_TRAFFIC": "false", "ISTHMUS_SIM_LATENCY": "20ms-100ms", "ISTHMUS_SIM_SHIP_DELAY": "100ms-400ms",
		"ISTHMUS_ADMIN_ADDR": testinfra.FreeAddr(t), "ISTHMUS_INSTANCE_ID": "sim", "ISTHMUS_SIM_SEED": "11"})
	for k, v := range sim {
		simEnv[k] = v
	}
	testinfra.NewProgram(t, "erp-simulator", testinfra.Build(t, "../../erp-simulator"), simEnv).Start()
	e.fsBin = testinfra.Build(t, "..")
	e.fsEnv = with(map[string]string{"ISTHMUS_GATEWAY_ADDR": gwGRPC, "ISTHMUS_GATEWAY_TOKEN": issuer.Mint(t, "field-service", []string{"service:read"}, 2*time.Hour),
		"ISTHMUS_FIELD_SERVICE_ASSET_CHECKS": "2", "ISTHMUS_FIELD_SERVICE_ASSET_RECHECK": "1s", "ISTHMUS_FIELD_SERVICE_RETRY_MAX_ELAPSED": "3s"})
	testinfra.WaitReady(t, gwAdmin, time.Minute)
	e.watch()
	return e
}

// instance prepares a field-service instance with a stable id.
func (e *env) instance(id string) *testinfra.Program {
	env := map[string]string{"ISTHMUS_INSTANCE_ID": id, "ISTHMUS_ADMIN_ADDR": testinfra.FreeAddr(e.t)}
	for k, v := range e.fsEnv {
		env[k] = v
	}
	return testinfra.NewProgram(e.t, "field-service-"+id, e.fsBin, env)
}

var seq int

func meta(src string) contracts.EventMetadata {
	seq++
	return contracts.EventMetadata{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", seq), CorrelationID: fmt.Sprintf("corr-%d", seq), SourceSystem: src, OccurredAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func date(days int) time.Time { return today.AddDate(0, 0, days) }

// asset puts an installed asset of customer in the installed base.
func (e *env) asset(serial, customer string, warrantyFrom, warrantyTo int, contract string) {
	a := &contracts.Asset{Metadata: meta(contracts.SourceSystemERP), Serial: serial, SKU: "PUMP-100", ERPCustomerID: customer, Status: "INSTALLED",
		InstallDate: date(warrantyFrom), AsOf: time.Now().UTC().Truncate(time.Millisecond)}
	all := []string{contracts.ServiceTypeRepair, contracts.ServiceTypeParts, contracts.ServiceTypePreventiveMaintenance, contracts.ServiceTypeInspection}
	if warrantyTo != 0 {
		a.Warranty = &contracts.WarrantyCoverage{StartDate: date(warrantyFrom), EndDate: date(warrantyTo), ServiceTypes: all, Provider: ptr("OEM-PUMPS")}
	}
	if contract != "" {
		a.ServiceContract = &contracts.ServiceContractCoverage{ContractID: contract, StartDate: date(-30), EndDate: date(335), ServiceTypes: all, ResponseHours: ptr(8)}
	}
	e.in.Value(contracts.TopicERPAssetV1, serial, a)
}

func ptr[T any](v T) *T { return &v }

// returnLine asks to return the units with these serials (or quantity
// unserialised units) at price each.
type returnLine struct {
	sku          string
	quantity     int64
	serials      []string
	price        int64
	reason       string
	boughtDays   int // days ago; 0: unknown
	subscription bool
}

// openReturn opens a return case (an RMA request) of customer.
func (e *env) openReturn(id, customer, status string, lines ...returnLine) {
	req := &contracts.ReturnRequest{Currency: "EUR"}
	for _, l := range lines {
		rl := contracts.ReturnRequestLine{SKU: l.sku, Quantity: l.quantity, Serials: append([]string{}, l.serials...), UnitPrice: contracts.Money{AmountMinor: l.price, Currency: "EUR"},
			Reason: l.reason, Subscription: l.subscription}
		if l.boughtDays > 0 {
			rl.PurchasedAt = ptr(time.Now().UTC().Add(-time.Duration(l.boughtDays) * 24 * time.Hour).Truncate(time.Millisecond))
		}
		req.Lines = append(req.Lines, rl)
	}
	e.in.Value(contracts.TopicCRMCaseV1, id, &contracts.Case{Metadata: meta(contracts.SourceSystemCRM), CaseID: id, AccountID: "ACC-" + customer, ERPCustomerID: ptr(customer),
		ServiceType: contracts.ServiceTypeInspection, Priority: contracts.SeverityMedium, SLATier: "STANDARD", Status: status, OpenedAt: time.Now().UTC().Truncate(time.Millisecond),
		ReturnRequest: req})
}

// serialReturn is one defective unit of an asset bought 10 days ago.
func serialReturn(serial string) returnLine {
	return returnLine{sku: "PUMP-100", quantity: 1, serials: []string{serial}, price: 150000, reason: contracts.ReturnReasonDefective}
}

// checkReturns asserts, for each return case that ended credited or
// refused by inspection, one CREATE, at most one CREDIT asking what the
// accepted units are worth (fee on NOT_NEEDED lines), and a posted CREDIT
// journal of that amount exactly when credited; it returns how many were
// credited and refused by inspection.
func (e *env) checkReturns(ids []string, feeBps int64, prices map[string]map[int]int64, notNeeded map[string]map[int]bool) (credited, refused int) {
	e.t.Helper()
	e.lock()
	defer e.mu.Unlock()
	cmds := map[string]int{}
	creditAsked := map[string]int64{}
	for _, r := range e.returns {
		cmds[r.ReturnID+"/"+r.Action]++
		if r.Action == contracts.ReturnActionCredit {
			creditAsked[r.ReturnID] = r.CreditAmount.AmountMinor
		}
	}
	journals := map[string]int64{}
	for _, j := range e.jcmds {
		if j.Kind != contracts.JournalKindCredit {
			continue
		}
		c, _ := strings.CutPrefix(j.JournalCommandID, "FS/")
		c, _, _ = strings.Cut(c, "/")
		var amount int64
		for _, l := range j.Lines {
			amount += l.Credit.AmountMinor
		}
		journals[c] = amount // the latest attempt (a repost repeats the amount)
	}
	for _, id := range ids {
		us := e.updates[id]
		if len(us) == 0 {
			e.t.Errorf("%s: no update", id)
			continue
		}
		last := us[len(us)-1]
		if cmds[id+"/CREATE"] != 1 || cmds[id+"/CREDIT"] > 1 {
			e.t.Errorf("%s: %d CREATE, %d CREDIT commands", id, cmds[id+"/CREATE"], cmds[id+"/CREDIT"])
		}
		var want int64
		for _, l := range last.ReturnLines {
			amount := l.Accepted * prices[id][l.LineNumber]
			if notNeeded[id][l.LineNumber] {
				amount = (amount*(10000-feeBps) + 5000) / 10000
			}
			want += amount
		}
		var order []string
		for _, u := range us {
			order = append(order, u.Event)
		}
		switch last.Event {
		case contracts.CaseEventReturnCredited:
			credited++
			if last.Credit == nil || last.Credit.AmountMinor != want || creditAsked[id] != want || journals[id] != want || contracts.Deref(last.CreditMemoID) == "" {
				e.t.Errorf("%s credited %v (asked %d, journal %d), want %d from the accepted units %+v", id, last.Credit, creditAsked[id], journals[id], want, last.ReturnLines)
			}
			if got := strings.Join(order, ","); got != "RETURN_REQUESTED,RETURN_AUTHORIZED,RETURN_RECEIVED,RETURN_INSPECTED,RETURN_CREDITED" {
				e.t.Errorf("%s: updates %s", id, got)
			}
		case contracts.CaseEventRefused:
			refused++
			if want != 0 || cmds[id+"/CREDIT"] != 0 || journals[id] != 0 || contracts.Deref(last.Reason) != "INSPECTION_REFUSED" {
				e.t.Errorf("%s refused (%s) with accepted units %+v, credit asked %d", id, contracts.Deref(last.Reason), last.ReturnLines, creditAsked[id])
			}
		default:
			e.t.Errorf("%s ended %s: %v", id, last.Event, order)
		}
	}
	return credited, refused
}

func (e *env) openCase(id, customer, serial, serviceType, status string) {
	e.in.Value(contracts.TopicCRMCaseV1, id, &contracts.Case{Metadata: meta(contracts.SourceSystemCRM), CaseID: id, AccountID: "ACC-" + customer, ERPCustomerID: ptr(customer),
		Serial: serial, ServiceType: serviceType, Symptom: ptr("noise at start"), Priority: contracts.SeverityHigh, SLATier: "STANDARD", Status: status, OpenedAt: time.Now().UTC().Truncate(time.Millisecond)})
}

// watch collects the service's outputs and ERP's journal answers
// (read_committed, testinfra.Collect); lock takes in what arrived since.
func (e *env) watch() {
	e.watched = []string{contracts.TopicCRMCaseUpdatesV1, contracts.TopicERPServiceOrderCommandsV1, contracts.TopicERPWarrantyClaimCommandsV1, contracts.TopicERPReturnCommandsV1,
		contracts.TopicERPJournalCommandsV1, contracts.TopicERPJournalV1, contracts.TopicOpsExceptionsV1, contracts.TopicDlqFieldServiceV1}
	phys := make([]string, len(e.watched))
	for i, tp := range e.watched {
		phys[i] = e.prefix + tp
	}
	e.col = testinfra.Collect(e.t, e.brokers, phys...)
	e.taken = map[string]int{}
}

// lock locks e.mu and takes in the records collected since the last call.
func (e *env) lock() {
	e.mu.Lock()
	for _, topic := range e.watched {
		recs := e.col.Records(e.prefix + topic)
		for _, r := range recs[e.taken[topic]:] {
			e.take(topic, r)
		}
		e.taken[topic] = len(recs)
	}
}

// take files one collected record of a logical topic (e.mu held).
func (e *env) take(topic string, r *kgo.Record) {
	if topic == contracts.TopicDlqFieldServiceV1 {
		e.dlq = append(e.dlq, r)
		return
	}
	v, err := contracts.NewValue(topic)
	if err != nil {
		return
	}
	if err := e.sd.Decode(context.Background(), r.Value, v); err != nil {
		e.t.Errorf("decode %s: %v", topic, err)
		return
	}
	switch x := v.(type) {
	case *contracts.CaseUpdate:
		e.updates[x.CaseID] = append(e.updates[x.CaseID], *x)
		e.events[x.Metadata.EventID]++
	case *contracts.ServiceOrderCommand:
		e.orders = append(e.orders, *x)
	case *contracts.WarrantyClaimCommand:
		e.claims = append(e.claims, *x)
	case *contracts.ReturnCommand:
		e.returns = append(e.returns, *x)
	case *contracts.JournalCommand:
		e.jcmds = append(e.jcmds, *x)
	case *contracts.Journal:
		e.answers[x.JournalCommandID] = *x
	case *contracts.OperationalException:
		e.excs[x.ExceptionID] = append(e.excs[x.ExceptionID], *x)
	}
}

// final is a case's last event of SETTLED, RETURN_CREDITED, CANCELLED,
// REFUSED, "".
func (e *env) final(id string) string {
	e.lock()
	defer e.mu.Unlock()
	for _, u := range slices.Backward(e.updates[id]) {
		switch u.Event {
		case contracts.CaseEventSettled, contracts.CaseEventReturnCredited, contracts.CaseEventCancelled, contracts.CaseEventRefused:
			return u.Event
		}
	}
	return ""
}

// waitJournalsAnswered waits for ERP's answer to every journal sent.
func (e *env) waitJournalsAnswered() {
	e.t.Helper()
	testinfra.Eventually(e.t, time.Minute, "every journal answered", func() bool {
		e.lock()
		defer e.mu.Unlock()
		for _, j := range e.jcmds {
			if _, ok := e.answers[j.JournalCommandID]; !ok {
				return false
			}
		}
		return true
	})
}

// openExceptions lists the exceptions whose latest state is OPEN or
// RETRYING, by category.
func (e *env) openExceptions() map[string][]contracts.OperationalException {
	e.lock()
	defer e.mu.Unlock()
	out := map[string][]contracts.OperationalException{}
	for _, hist := range e.excs {
		last := hist[len(hist)-1]
		if last.Status == contracts.ExceptionStatusOpen || last.Status == contracts.ExceptionStatusRetrying {
			out[hist[0].Category] = append(out[hist[0].Category], hist[0])
		}
	}
	return out
}

// checkLedger asserts that every journal balances, that each is sent once,
// and that ERP posted each case's latest journal of every kind; it returns
// the kinds posted per case and the net debit per account.
func (e *env) checkLedger() (map[string][]string, map[string]int64) {
	e.t.Helper()
	e.lock()
	defer e.mu.Unlock()
	seen := map[string]int{}
	latest := map[string]contracts.JournalCommand{} // case/kind → latest attempt
	net := map[string]int64{}
	for _, j := range e.jcmds {
		seen[j.JournalCommandID]++
		if !strings.HasPrefix(j.JournalCommandID, "FS/") {
			e.t.Errorf("journal %s is not field-service's", j.JournalCommandID)
		}
		var dr, cr int64
		for _, l := range j.Lines {
			dr += l.Debit.AmountMinor
			cr += l.Credit.AmountMinor
		}
		if dr != cr || dr == 0 {
			e.t.Errorf("journal %s: debits %d, credits %d", j.JournalCommandID, dr, cr)
		}
		parts := strings.Split(j.JournalCommandID, "/")
		latest[parts[1]+"/"+parts[2]] = j
	}
	for id, n := range seen {
		if n != 1 {
			e.t.Errorf("journal %s sent %d times", id, n)
		}
	}
	kinds := map[string][]string{}
	for k, j := range latest {
		a, ok := e.answers[j.JournalCommandID]
		if !ok || a.Status != contracts.JournalStatusPosted {
			e.t.Errorf("journal %s: ERP answer %+v, want POSTED", j.JournalCommandID, a)
			continue
		}
		c, _, _ := strings.Cut(k, "/")
		kinds[c] = append(kinds[c], j.Kind)
		for _, l := range j.Lines {
			net[l.Account] += l.Debit.AmountMinor - l.Credit.AmountMinor
		}
	}
	for _, ks := range kinds {
		slices.Sort(ks)
	}
	return kinds, net
}

func TestCaseToSettlement(t *testing.T) {
	e := newEnv(t, map[string]string{"ISTHMUS_SIM_PART_SHORTAGE_BPS": "5000", "ISTHMUS_SIM_CLAIM_REJECT_BPS": "0", "ISTHMUS_SIM_JOURNAL_REJECT_BPS": "3000"})
	e.asset("SN-W", "E-100", -100, 265, "")      // warranty in force
	e.asset("SN-C", "E-100", -800, -435, "SC-1") // warranty over, service contract in force
	e.asset("SN-B", "E-100", -800, -435, "")     // nothing: billable
	e.asset("SN-X", "E-200", -10, 355, "")       // another customer's
	e.instance("a").Start()
	cases := map[string]string{} // case → want coverage
	for i, tt := range []struct{ serial, cov string }{{"SN-W", contracts.CoverageWarranty}, {"SN-C", contracts.CoverageServiceContract}, {"SN-B", contracts.CoverageBillable}} {
		for j, st := range []string{contracts.ServiceTypeRepair, contracts.ServiceTypePreventiveMaintenance, contracts.ServiceTypeInspection} {
			id := fmt.Sprintf("CASE-%d%d", i, j)
			cases[id] = tt.cov
			e.openCase(id, "E-100", tt.serial, st, "OPEN")
		}
	}
	// Bad input: bytes that are not Avro, an unknown schema id, a case
	// without serial. Each goes to the DLQ; the cases after them flow.
	e.in.Raw(contracts.TopicCRMCaseV1, "BAD-1", []byte("not avro"))
	e.in.Raw(contracts.TopicCRMCaseV1, "BAD-2", []byte{0, 0x7f, 0xff, 0xff, 0xf0, 2, 4})
	e.openCase("BAD-3", "E-100", "", contracts.ServiceTypeRepair, "OPEN")
	e.openCase("CASE-X", "E-100", "SN-X", contracts.ServiceTypeRepair, "OPEN")       // not entitled
	e.openCase("CASE-U", "E-100", "SN-UNKNOWN", contracts.ServiceTypeRepair, "OPEN") // not in the installed base
	e.openCase("CASE-Z", "E-100", "SN-B", contracts.ServiceTypeRepair, "OPEN")
	e.openCase("CASE-Z", "E-100", "SN-B", contracts.ServiceTypeRepair, "CANCELLED") // withdrawn at once

	var notEntitled contracts.OperationalException
	testinfra.Eventually(e.t, time.Minute, "CASE-X raised as not entitled", func() bool {
		for _, x := range e.openExceptions()[contracts.ExceptionCategoryNotEntitled] {
			if x.EntityIds["case_id"] == "CASE-X" {
				notEntitled = x
				return true
			}
		}
		return false
	})
	if notEntitled.Queue != contracts.ExceptionQueueSalesOps || notEntitled.Context["reason"] != "ASSET_NOT_OWNED" || !slices.Contains(notEntitled.AllowedActions, contracts.DecisionActionOverride) {
		t.Fatalf("not-entitled exception %+v", notEntitled)
	}
	// Sales agrees a billable visit with the customer.
	e.in.Value(contracts.TopicOpsDecisionsV1, notEntitled.ExceptionID, &contracts.Decision{Metadata: meta(contracts.SourceSystemOperator), DecisionID: "D-X",
		ExceptionID: notEntitled.ExceptionID, OwnerService: "field-service", Action: contracts.DecisionActionOverride, Parameters: map[string]string{}, Actor: "sales@example.com", ApprovedBy: []string{}})
	cases["CASE-X"] = contracts.CoverageBillable

	testinfra.Eventually(e.t, 3*time.Minute, "every case settled", func() bool {
		for id := range cases {
			if e.final(id) != contracts.CaseEventSettled {
				return false
			}
		}
		return e.final("CASE-Z") == contracts.CaseEventCancelled
	})
	testinfra.Eventually(e.t, time.Minute, "CASE-U raised after its checks", func() bool {
		for _, x := range e.openExceptions()[contracts.ExceptionCategoryNotEntitled] {
			if x.EntityIds["case_id"] == "CASE-U" {
				return true
			}
		}
		return false
	})
	testinfra.Eventually(e.t, 30*time.Second, "three records in the DLQ", func() bool { e.lock(); defer e.mu.Unlock(); return len(e.dlq) >= 3 })
	e.waitJournalsAnswered()
	time.Sleep(2 * time.Second) // anything late (a repost) would show now
	wantKinds := map[string]string{
		contracts.CoverageWarranty:        "SERVICE_COST,WARRANTY_RECOVERY",
		contracts.CoverageServiceContract: "SERVICE_COST",
		contracts.CoverageBillable:        "SERVICE_CHARGE,SERVICE_COST",
	}
	kinds, net := e.checkLedger()
	e.lock()
	defer e.mu.Unlock()
	creates := map[string]int{}
	for _, o := range e.orders {
		if o.Action == contracts.ServiceOrderActionCreate {
			creates[o.ServiceOrderID]++
		}
	}
	for id, cov := range cases {
		got := strings.Join(kinds[id], ",")
		if got != wantKinds[cov] {
			t.Errorf("%s (%s): journals %s, want %s", id, cov, got, wantKinds[cov])
		}
		if creates[id] != 1 {
			t.Errorf("%s: %d CREATE commands", id, creates[id])
		}
		var entitlement string
		for _, u := range e.updates[id] {
			if u.Event == contracts.CaseEventEntitlement {
				entitlement = u.Coverage
			}
		}
		if id != "CASE-X" && entitlement != cov {
			t.Errorf("%s: entitlement %s, want %s", id, entitlement, cov)
		}
	}
	if creates["CASE-U"] != 0 || creates["CASE-Z"] > 1 {
		t.Errorf("CREATE commands: CASE-U %d, CASE-Z %d", creates["CASE-U"], creates["CASE-Z"])
	}
	if len(e.claims) != 3 {
		t.Errorf("%d warranty claims, want 3", len(e.claims))
	}
	// The warranty's cost came back from the manufacturer: what stays in
	// cost of service is the contract's and the billable work's; revenue
	// is what the customers were charged.
	if net["4100-service-revenue"] >= 0 || net["1200-accounts-receivable"] != -net["4100-service-revenue"] || net["1300-warranty-receivable"] <= 0 {
		t.Errorf("ledger: %v", net)
	}
	var shortages int
	for id, hist := range e.excs {
		if hist[0].Category == contracts.ExceptionCategoryPartUnavailable {
			shortages++
			if hist[0].Queue != contracts.ExceptionQueueServiceOps || hist[len(hist)-1].Status != contracts.ExceptionStatusResolved {
				t.Errorf("part shortage %s: queue %s, last status %s", id, hist[0].Queue, hist[len(hist)-1].Status)
			}
		}
	}
	for id, n := range e.events {
		if n != 1 {
			t.Errorf("case update event %s seen %d times", id, n)
		}
	}
	t.Logf("%d cases settled, %d journals (%d reposts), %d part shortages raised and resolved, %d DLQ records", len(cases), len(e.jcmds),
		len(e.jcmds)-countLatest(kinds), shortages, len(e.dlq))
	if shortages == 0 {
		t.Error("no part shortage with ISTHMUS_SIM_PART_SHORTAGE_BPS=5000")
	}
	if len(e.dlq) != 3 {
		t.Errorf("%d DLQ records, want 3", len(e.dlq))
	}
}

func countLatest(kinds map[string][]string) int {
	n := 0
	for _, ks := range kinds {
		n += len(ks)
	}
	return n
}

// TestSIGKILLNoLossNoDuplicate runs two instances under a stream of cases
// and returns and SIGKILLs each once (restarted with its stable id): every
// case is settled once, with one service order and one journal per kind;
// every return ends once, with one return order and, when credited, one
// credit memo request and one credit journal.
func TestSIGKILLNoLossNoDuplicate(t *testing.T) {
	e := newEnv(t, map[string]string{"ISTHMUS_SIM_PART_SHORTAGE_BPS": "2000", "ISTHMUS_SIM_CLAIM_REJECT_BPS": "0", "ISTHMUS_SIM_JOURNAL_REJECT_BPS": "1000"})
	e.asset("SN-W", "E-100", -100, 265, "")
	e.asset("SN-C", "E-100", -800, -435, "SC-1")
	e.asset("SN-B", "E-100", -800, -435, "")
	a, b := e.instance("a"), e.instance("b")
	a.Start()
	b.Start()
	serials := []string{"SN-W", "SN-C", "SN-B"}
	const n = 90
	// Every sixth case is a return of its own pump.
	isReturn := func(i int) bool { return i%6 == 5 }
	var rets []string
	prices := map[string]map[int]int64{}
	for i := 0; i < n; i++ {
		if isReturn(i) {
			e.asset(fmt.Sprintf("SN-K%03d", i), "E-100", -10, 355, "")
			rets = append(rets, fmt.Sprintf("K-%03d", i))
			prices[fmt.Sprintf("K-%03d", i)] = map[int]int64{1: 150000}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if isReturn(i) {
				e.openReturn(fmt.Sprintf("K-%03d", i), "E-100", "OPEN", serialReturn(fmt.Sprintf("SN-K%03d", i)))
			} else {
				e.openCase(fmt.Sprintf("K-%03d", i), "E-100", serials[i%3], contracts.ServiceTypeRepair, "OPEN")
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()
	time.Sleep(3 * time.Second)
	a.Kill()
	time.Sleep(2 * time.Second)
	a.Start()
	time.Sleep(4 * time.Second)
	b.Kill()
	time.Sleep(time.Second)
	b.Start()
	<-done
	testinfra.Eventually(e.t, 4*time.Minute, "every case settled, every return ended", func() bool {
		for i := 0; i < n; i++ {
			f := e.final(fmt.Sprintf("K-%03d", i))
			if isReturn(i) && f == "" || !isReturn(i) && f != contracts.CaseEventSettled {
				return false
			}
		}
		return true
	})
	e.waitJournalsAnswered()
	time.Sleep(2 * time.Second)
	credited, refused := e.checkReturns(rets, 0, prices, nil)
	kinds, _ := e.checkLedger()
	e.lock()
	defer e.mu.Unlock()
	creates := map[string]int{}
	for _, o := range e.orders {
		creates[o.ServiceOrderID+"/"+o.Action]++
	}
	want := []string{"SERVICE_COST,WARRANTY_RECOVERY", "SERVICE_COST", "SERVICE_CHARGE,SERVICE_COST"}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("K-%03d", i)
		if isReturn(i) {
			if got := strings.Join(kinds[id], ","); got != "" && got != contracts.JournalKindCredit {
				t.Errorf("%s: journals %s", id, got)
			}
			continue
		}
		if creates[id+"/CREATE"] != 1 {
			t.Errorf("%s: %d CREATE commands", id, creates[id+"/CREATE"])
		}
		if got := strings.Join(kinds[id], ","); got != want[i%3] {
			t.Errorf("%s: journals %s, want %s", id, got, want[i%3])
		}
		settled := 0
		for _, u := range e.updates[id] {
			if u.Event == contracts.CaseEventSettled {
				settled++
			}
		}
		if settled != 1 {
			t.Errorf("%s settled %d times", id, settled)
		}
	}
	for id, c := range e.events {
		if c != 1 {
			t.Errorf("case update event %s seen %d times", id, c)
		}
	}
	if len(e.dlq) != 0 {
		t.Errorf("%d DLQ records", len(e.dlq))
	}
	if credited == 0 {
		t.Error("no return credited")
	}
	t.Logf("%d cases and %d returns through two SIGKILLs: %d service order commands, %d return commands (%d credited, %d refused by inspection), %d journals, %d case updates",
		n-len(rets), len(rets), len(e.orders), len(e.returns), credited, refused, len(e.jcmds), len(e.events))
}

// TestReturnToCredit runs returns through the real gateway's installed
// base and the ERP simulator: the policy authorises, refuses in part or in
// full; ERP receives and inspects (refusing some units); accepted units are
// credited at the price paid (less the restocking fee of goods not needed)
// with a balanced, posted credit journal; a withdrawn return is cancelled;
// bad requests go to the DLQ.
func TestReturnToCredit(t *testing.T) {
	e := newEnv(t, map[string]string{"ISTHMUS_SIM_INSPECTION_REFUSE_BPS": "5000", "ISTHMUS_SIM_INVOICE_DELAY": "100ms-300ms", "ISTHMUS_SIM_JOURNAL_REJECT_BPS": "3000"})
	for i := 1; i <= 10; i++ {
		e.asset(fmt.Sprintf("SN-R%d", i), "E-100", -10, 355, "") // bought 10 days ago, under warranty
	}
	e.asset("SN-X", "E-200", -10, 355, "")     // another customer's
	e.asset("SN-OLD", "E-100", -800, -435, "") // bought long ago, warranty over
	e.instance("a").Start()

	prices := map[string]map[int]int64{}
	notNeeded := map[string]map[int]bool{}
	var ids []string
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("RET-%d", i)
		ids = append(ids, id)
		prices[id] = map[int]int64{1: 150000}
		e.openReturn(id, "E-100", "OPEN", serialReturn(fmt.Sprintf("SN-R%d", i)))
	}
	// Two pumps and five subscription seats not needed, bought 3 days ago.
	ids = append(ids, "RET-M")
	prices["RET-M"] = map[int]int64{1: 150000, 2: 1999}
	notNeeded["RET-M"] = map[int]bool{2: true}
	e.openReturn("RET-M", "E-100", "OPEN", returnLine{sku: "PUMP-100", quantity: 2, serials: []string{"SN-R7", "SN-R8"}, price: 150000, reason: contracts.ReturnReasonDefective},
		returnLine{sku: "SEAT-SUB", quantity: 5, price: 1999, reason: contracts.ReturnReasonNotNeeded, boughtDays: 3, subscription: true})
	// Partly refused by the policy: SN-X is not E-100's.
	ids = append(ids, "RET-P")
	prices["RET-P"] = map[int]int64{1: 150000}
	e.openReturn("RET-P", "E-100", "OPEN", returnLine{sku: "PUMP-100", quantity: 2, serials: []string{"SN-R9", "SN-X"}, price: 150000, reason: contracts.ReturnReasonDefective})
	// Refused in full by the policy: outside the window, warranty over.
	e.openReturn("RET-OLD", "E-100", "OPEN", serialReturn("SN-OLD"))
	// Withdrawn at once: ERP cancels the return order before receipt.
	e.openReturn("RET-W", "E-100", "OPEN", serialReturn("SN-R10"))
	e.openReturn("RET-W", "E-100", "CANCELLED", serialReturn("SN-R10"))
	// Bad input: serials that do not name every unit, a return without
	// an ERP customer, a status for a return never opened.
	e.openReturn("BAD-R1", "E-100", "OPEN", returnLine{sku: "PUMP-100", quantity: 3, serials: []string{"SN-R2"}, price: 1, reason: contracts.ReturnReasonDefective})
	e.openReturn("BAD-R2", "", "OPEN", serialReturn("SN-R3"))
	e.in.Value(contracts.TopicERPReturnStatusV1, "NEVER", &contracts.ReturnStatus{Metadata: meta(contracts.SourceSystemERP), ReturnID: "NEVER", Status: contracts.ReturnStateCreated})

	testinfra.Eventually(e.t, 3*time.Minute, "every return ended", func() bool {
		for _, id := range append(ids, "RET-OLD", "RET-W") {
			if e.final(id) == "" {
				return false
			}
		}
		return true
	})
	testinfra.Eventually(e.t, 30*time.Second, "three records in the DLQ", func() bool { e.lock(); defer e.mu.Unlock(); return len(e.dlq) >= 3 })
	e.waitJournalsAnswered()
	time.Sleep(2 * time.Second) // a late repost or duplicate would show now
	credited, refused := e.checkReturns(ids, 1500, prices, notNeeded)
	kinds, net := e.checkLedger()
	if got := e.final("RET-W"); got != contracts.CaseEventCancelled {
		t.Errorf("RET-W ended %s, want CANCELLED", got)
	}
	e.lock()
	defer e.mu.Unlock()
	if credited == 0 || refused == 0 || credited+refused != len(ids) {
		t.Errorf("%d credited, %d refused by inspection of %d returns", credited, refused, len(ids))
	}
	for c, ks := range kinds {
		if !slices.Equal(ks, []string{contracts.JournalKindCredit}) {
			t.Errorf("%s: journals %v", c, ks)
		}
	}
	if net["1200-accounts-receivable"] >= 0 || net["4200-sales-returns"]+net["2400-deferred-revenue"] != -net["1200-accounts-receivable"] {
		t.Errorf("ledger: %v", net)
	}
	if l := e.updates["RET-P"][0].ReturnLines[0]; l.Authorised != 1 || l.Refused < 1 || contracts.Deref(l.Reason) != "ASSET_NOT_OWNED" {
		t.Errorf("RET-P line %+v", l)
	}
	for _, r := range e.returns {
		if r.ReturnID == "RET-P" && r.Action == contracts.ReturnActionCreate && (len(r.Lines) != 1 || !slices.Equal(r.Lines[0].Serials, []string{"SN-R9"})) {
			t.Errorf("RET-P CREATE %+v", r.Lines)
		}
		if r.ReturnID == "RET-OLD" {
			t.Errorf("RET-OLD sent to ERP: %+v", r)
		}
	}
	if u := e.updates["RET-OLD"]; len(u) != 1 || u[0].Event != contracts.CaseEventRefused || contracts.Deref(u[0].Reason) != "OUTSIDE_RETURN_WINDOW" {
		t.Errorf("RET-OLD updates %+v", u)
	}
	for id, n := range e.events {
		if n != 1 {
			t.Errorf("case update event %s seen %d times", id, n)
		}
	}
	if len(e.dlq) != 3 {
		t.Errorf("%d DLQ records, want 3", len(e.dlq))
	}
	t.Logf("%d returns: %d credited, %d refused by inspection, 1 refused by the policy, 1 withdrawn; %d return commands, %d credit journals (%d sent), %d DLQ records",
		len(ids), credited, refused, len(e.returns), countLatest(kinds), len(e.jcmds), len(e.dlq))
}

// The processor conformance suite on the real broker and registry (the
// gateway replaced as in the handler tests).
func TestRealConformance(t *testing.T) {
	processortest.Conformance(t, processortest.RealCluster(t), conformanceTarget(t))
}
