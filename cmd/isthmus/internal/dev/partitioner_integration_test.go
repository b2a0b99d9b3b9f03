//go:build integration

package dev

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/serde"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// pyDelivery is one record the Python peer had acknowledged.
type pyDelivery struct {
	Topic     string `json:"topic"`
	Key       string `json:"key"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	EventID   string `json:"event_id"`
}

// observed collects the suite's public outputs (read_committed).
type observed struct {
	mu         sync.Mutex
	life       map[string][]contracts.OrderLifecycle // order id → events
	golden     map[string]contracts.GoldenCustomer   // golden id → latest
	exceptions []contracts.OperationalException
	billing    map[string]int      // contract id → billing commands
	eventIDs   map[string][]string // topic/event id → key@partition/offset of each copy
}

func (o *observed) lastState(order string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.life[order]
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1].State
}

// TestDefaultPartitionerProducers is issue 16's acceptance: source systems
// on Confluent's Python client with its DEFAULT partitioner (librdkafka's
// consistent_random, not Kafka's murmur2) against the whole suite (`isthmus
// dev` on the real broker, registry and Redis under a fresh prefix). The
// simulator's ERP acknowledges orders but ships them only after 10 minutes,
// so the Python ERP ships and invoices existing orders:
//
//   - every status reaches orders.lifecycle.v1 exactly once, every CRM
//     account becomes a golden record on mdm.customer.v1, every quote an
//     order (RECEIVED first), every deal a billing command; no event id
//     appears twice on orders.lifecycle.v1 or mdm.customer.v1;
//   - isthmus_processor_forwarded_total counts the statuses that sat on
//     another partition than their key's;
//   - a status for an order nobody created becomes an OPEN exception on
//     ops.exceptions.v1 once the grace period is over.
func TestDefaultPartitionerProducers(t *testing.T) {
	brokers, registry := testinfra.Brokers(t), testinfra.RegistryURL(t)
	testinfra.RedisURL(t)
	python := testinfra.Python(t)
	root := repoRoot(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "isthmus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/isthmus")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	prefix := fmt.Sprintf("dp%d.", time.Now().UnixNano())
	for _, verb := range []string{"topics", "schemas"} {
		cmd := exec.Command(bin, verb, "apply")
		cmd.Env = append(os.Environ(), "ISTHMUS_TOPIC_PREFIX="+prefix)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("isthmus %s apply: %v\n%s", verb, err, out)
		}
	}

	const grace = 10 * time.Second
	ports := freePorts(t, 3)
	adminBase := testinfra.FreePorts(t, 7)
	logf := filepath.Join(tmp, "dev.stdout")
	out, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	dev := exec.Command(bin, "dev", "--duration", "5m", "--rate", "10", "--scenario", "manufacturer", "--log-file", filepath.Join(tmp, "dev.log"))
	dev.Dir = tmp
	dev.Env = append(os.Environ(),
		"ISTHMUS_TOPIC_PREFIX="+prefix,
		fmt.Sprintf("ISTHMUS_GATEWAY_GRPC_ADDR=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("ISTHMUS_GATEWAY_HTTP_ADDR=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("ISTHMUS_RECON_DASHBOARD_ADDR=127.0.0.1:%d", ports[2]),
		fmt.Sprintf("ISTHMUS_DEV_ADMIN_PORT=%d", adminBase),
		"ISTHMUS_DEV_KEY_DIR="+tmp,
		"ISTHMUS_SIM_SHIP_DELAY=10m-10m",
		"ISTHMUS_QUOTE_TO_ORDER_UNKNOWN_STATUS_GRACE="+grace.String())
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = dev.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("isthmus dev exited with %v\n%s", err, tailFile(logf, 15))
			}
		case <-time.After(60 * time.Second):
			_ = dev.Process.Kill()
			t.Errorf("isthmus dev did not stop within 60s of SIGINT\n%s", tailFile(logf, 15))
		}
	}
	defer stop()
	waitFor := func(d time.Duration, what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if dev.ProcessState != nil {
				t.Fatalf("isthmus dev stopped while waiting for %s\n%s", what, tailFile(logf, 15))
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s\n%s", d, what, tailFile(logf, 15))
			}
			time.Sleep(time.Second)
		}
	}
	waitFor(90*time.Second, "the suite to start", func() bool {
		b, _ := os.ReadFile(logf)
		return bytes.Contains(b, []byte("Ctrl-C stops everything"))
	})
	obs := watchOutputs(t, brokers, registry, prefix)

	conn := []string{"--bootstrap", strings.Join(brokers, ","), "--registry", registry, "--prefix", prefix}
	peer := filepath.Join(root, "scripts", "interop", "default_partitioner.py")
	runID := fmt.Sprintf("DP%d", time.Now().UnixNano()%1_000_000)

	// CRM: accounts, quotes and deals.
	crm := runPeer(t, append([]string{python, peer, "crm", "--run-id", runID, "--count", "5"}, conn...)...)
	if len(crm) != 15 {
		t.Fatalf("python acknowledged %d CRM records, want 15", len(crm))
	}

	// ERP: ship and invoice orders the suite has created (acknowledged by
	// the simulated ERP), and report a status for an order nobody created.
	var orders []string
	waitFor(90*time.Second, "six ACCEPTED orders", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		orders = orders[:0]
		for id, l := range obs.life {
			if l[len(l)-1].State == contracts.OrderStateAccepted && len(orders) < 6 {
				orders = append(orders, id)
			}
		}
		return len(orders) == 6
	})
	ghost := runID + "-GHOST"
	var updates []map[string]string
	for _, id := range orders {
		updates = append(updates,
			map[string]string{"order_id": id, "status": contracts.ErpOrderStateShipped, "erp_order_id": "PY-" + id},
			map[string]string{"order_id": id, "status": contracts.ErpOrderStateInvoiced, "erp_order_id": "PY-" + id, "invoice_id": "PYINV-" + id})
	}
	updates = append(updates, map[string]string{"order_id": ghost, "status": contracts.ErpOrderStateAccepted, "erp_order_id": "PY-GHOST"})
	file := filepath.Join(tmp, "orders.json")
	b, _ := json.Marshal(updates)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sentAt := time.Now()
	statuses := runPeer(t, append([]string{python, peer, "statuses", "--orders-file", file}, conn...)...)
	if len(statuses) != len(updates) {
		t.Fatalf("python acknowledged %d statuses, want %d", len(statuses), len(updates))
	}

	// librdkafka's default put records on other partitions than murmur2.
	murmur2 := kgo.StickyKeyPartitioner(nil).ForTopic("")
	misplaced := map[string]int{}
	for _, d := range append(crm, statuses...) {
		if int32(murmur2.Partition(&kgo.Record{Key: []byte(d.Key)}, 6)) != d.Partition {
			misplaced[strings.TrimPrefix(d.Topic, prefix)]++
		}
	}
	t.Logf("records on another partition than murmur2's: %v of %d CRM and %d ERP records", misplaced, len(crm), len(statuses))
	if misplaced[contracts.TopicERPOrderStatusV1] == 0 {
		t.Fatalf("every status landed where murmur2 would put it; the test proves nothing")
	}

	// Every status reached its order.
	waitFor(60*time.Second, "every Python status on orders.lifecycle.v1", func() bool {
		for _, id := range orders {
			if obs.lastState(id) != contracts.OrderStateInvoiced {
				return false
			}
		}
		return true
	})
	obs.mu.Lock()
	for _, id := range orders {
		n := map[string]int{}
		for _, l := range obs.life[id] {
			n[l.State]++
		}
		if n[contracts.OrderStateShipped] != 1 || n[contracts.OrderStateInvoiced] != 1 {
			t.Errorf("order %s: lifecycle states %v, want SHIPPED and INVOICED once each", id, n)
		}
		if last := obs.life[id][len(obs.life[id])-1]; last.InvoiceID == nil || *last.InvoiceID != "PYINV-"+id {
			t.Errorf("order %s INVOICED without the Python ERP's invoice id: %v", id, last.InvoiceID)
		}
	}
	obs.mu.Unlock()

	// Every account became a golden record.
	accounts := map[string]bool{}
	for _, d := range crm {
		if strings.HasSuffix(d.Topic, contracts.TopicCRMAccountV1) {
			accounts[d.Key] = true
		}
	}
	waitFor(60*time.Second, "a golden record for every Python account", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		found := map[string]bool{}
		for _, g := range obs.golden {
			for _, m := range g.Members {
				if m.System == contracts.SourceSystemCRM && accounts[m.ID] {
					found[m.ID] = true
				}
			}
		}
		return len(found) == len(accounts)
	})

	// Every quote became an order, every deal a billing command.
	waitFor(60*time.Second, "an order for every Python quote and a billing command for every deal", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		for _, d := range crm {
			switch strings.TrimPrefix(d.Topic, prefix) {
			case contracts.TopicCRMQuoteV1:
				if len(obs.life[d.Key]) == 0 {
					return false
				}
			case contracts.TopicCRMDealV1:
				if obs.billing[d.Key] == 0 {
					return false
				}
			}
		}
		return true
	})
	obs.mu.Lock()
	for _, d := range crm {
		if strings.HasSuffix(d.Topic, contracts.TopicCRMQuoteV1) {
			if l := obs.life[d.Key]; l[0].State != contracts.OrderStateReceived {
				t.Errorf("quote %s: first lifecycle state %s, want RECEIVED", d.Key, l[0].State)
			}
		}
	}
	obs.mu.Unlock()

	// The unknown order's status is an exception once the grace is over.
	var ex contracts.OperationalException
	waitFor(60*time.Second, "an exception for the status of the unknown order "+ghost, func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		for _, x := range obs.exceptions {
			if x.EntityIds["order_id"] == ghost {
				ex = x
				return true
			}
		}
		return false
	})
	if time.Since(sentAt) < grace || ex.Status != contracts.ExceptionStatusOpen || ex.OwnerService != "quote-to-order" ||
		ex.Context["status"] != contracts.ErpOrderStateAccepted || ex.Context["source_offsets"] == "" {
		t.Errorf("exception for %s after %v: %+v", ghost, time.Since(sentAt), ex)
	}
	t.Logf("unknown order: %s %q, sources %s", ex.ExceptionID, ex.Summary, ex.Context["source_offsets"])

	// The forwarded-records metric counted them.
	body, err := fetch(fmt.Sprintf("127.0.0.1:%d", adminBase+1), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	fw := metricValue(body, `isthmus_processor_forwarded_total{service="quote-to-order",topic="erp.order-status.v1"}`)
	if fw < float64(misplaced[contracts.TopicERPOrderStatusV1]) || fw == 0 {
		t.Errorf("quote-to-order forwarded %v erp.order-status.v1 records, %d were misplaced", fw, misplaced[contracts.TopicERPOrderStatusV1])
	}
	cs := metricValue(body, `isthmus_processor_forwarded_total{service="customer-sync",topic="crm.account.v1"}`)
	t.Logf("forwarded: quote-to-order erp.order-status.v1 %v, customer-sync crm.account.v1 %v", fw, cs)
	// The simulated CRM asked the gateway (real Redis read models) before
	// saving accounts.
	saved, prevented, failed := metricValue(body, `isthmus_sim_crm_duplicate_checks_total{outcome="saved"}`),
		metricValue(body, `isthmus_sim_crm_duplicate_checks_total{outcome="prevented"}`),
		metricValue(body, `isthmus_sim_crm_duplicate_checks_total{outcome="error"}`)
	if saved+prevented == 0 {
		t.Errorf("the simulated CRM's duplicate checks never answered (errors: %v)", failed)
	}
	t.Logf("duplicate checks: %v saved, %v prevented, %v failed", saved, prevented, failed)
	t.Logf("lead updates read by the CRM: %v NEW_ACCOUNT, %v EXISTING_CUSTOMER, %v REVIEW",
		metricValue(body, `isthmus_sim_crm_lead_updates_total{outcome="NEW_ACCOUNT"}`),
		metricValue(body, `isthmus_sim_crm_lead_updates_total{outcome="EXISTING_CUSTOMER"}`),
		metricValue(body, `isthmus_sim_crm_lead_updates_total{outcome="REVIEW"}`))

	// No event twice.
	obs.mu.Lock()
	for k, at := range obs.eventIDs {
		if len(at) > 1 {
			t.Errorf("event %s seen %d times: %v", k, len(at), at)
		}
	}
	t.Logf("%d lifecycle/golden events, %d orders, %d golden records", len(obs.eventIDs), len(obs.life), len(obs.golden))
	obs.mu.Unlock()
	stop()
}

// runPeer runs the Python peer and returns its acknowledged records.
func runPeer(t *testing.T, argv ...string) []pyDelivery {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv[1:3], " "), err, stderr.String())
	}
	var out []pyDelivery
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var d pyDelivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("peer printed %q: %v", sc.Text(), err)
		}
		out = append(out, d)
	}
	return out
}

// watchOutputs consumes the suite's public outputs until the test ends.
func watchOutputs(t *testing.T, brokers []string, registry, prefix string) *observed {
	rc, err := config.Registry{URL: registry}.Client()
	if err != nil {
		t.Fatal(err)
	}
	sd := serde.New(rc)
	cl := testinfra.NewClient(t, brokers, kgo.ConsumeTopics(prefix+contracts.TopicOrdersLifecycleV1, prefix+contracts.TopicMDMCustomerV1, prefix+contracts.TopicOpsExceptionsV1, prefix+contracts.TopicBillingCommandsV1),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	o := &observed{life: map[string][]contracts.OrderLifecycle{}, golden: map[string]contracts.GoldenCustomer{}, eventIDs: map[string][]string{}, billing: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				if r.Value == nil {
					return
				}
				o.mu.Lock()
				defer o.mu.Unlock()
				switch tp := strings.TrimPrefix(r.Topic, prefix); tp {
				case contracts.TopicBillingCommandsV1:
					o.billing[string(r.Key)]++
				case contracts.TopicOrdersLifecycleV1:
					var l contracts.OrderLifecycle
					if err := sd.Decode(ctx, r.Value, &l); err == nil {
						o.life[l.OrderID] = append(o.life[l.OrderID], l)
						o.eventIDs[tp+"/"+l.Metadata.EventID] = append(o.eventIDs[tp+"/"+l.Metadata.EventID], fmt.Sprintf("%s@%d/%d", r.Key, r.Partition, r.Offset))
					}
				case contracts.TopicMDMCustomerV1:
					var g contracts.GoldenCustomer
					if err := sd.Decode(ctx, r.Value, &g); err == nil {
						o.golden[g.GoldenID] = g
						o.eventIDs[tp+"/"+g.Metadata.EventID] = append(o.eventIDs[tp+"/"+g.Metadata.EventID], fmt.Sprintf("%s@%d/%d v%d %s", r.Key, r.Partition, r.Offset, g.Version, g.Status))
					}
				case contracts.TopicOpsExceptionsV1:
					var x contracts.OperationalException
					if err := sd.Decode(ctx, r.Value, &x); err == nil {
						o.exceptions = append(o.exceptions, x)
					}
				}
			})
		}
	}()
	return o
}

// metricValue reads one sample of a Prometheus text exposition (0 when absent).
func metricValue(body, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}
