//go:build integration

package customersync

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/serde"
)

// stream is a deterministic input: CRM accounts (with typo and suffix
// near-duplicates, updates that change stage and ERP-owned fields, deletes)
// on crm.account.v1 partition 0, and ERP customers of other companies on
// erp.customer.v1 partition 0. Related events share one source partition,
// so the match order of every entity is fixed by the input (events of
// independent entities may interleave differently between runs; outputs
// are compared per topic and key).
type srcEvent struct {
	topic string
	key   string
	value serde.Record
}

func stream(n int) []srcEvent {
	words := []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent", "Hooli",
		"Vandelay", "Wonka", "Gringotts", "Oscorp", "Aperture", "Massive", "Dynamics", "Nakatomi", "Monarch", "Virtucon"}
	trades := []string{"Logistics", "Foods", "Systems", "Robotics", "Pharma", "Textiles", "Mining", "Media"}
	countries := []struct{ cc, postal string }{{"DE", "10115"}, {"US", "94105"}, {"FR", "75001"}, {"GB", "SW1A1AA"}, {"NL", "1012AB"}}
	r := rand.New(rand.NewPCG(7, 11))
	var out []srcEvent
	for i := range n {
		id := fmt.Sprintf("S-%04d", i)
		name := words[r.IntN(len(words))] + " " + trades[r.IntN(len(trades))] + fmt.Sprintf(" %c%c", 'A'+rune(i%26), 'A'+rune(i/26%26))
		c := countries[r.IntN(len(countries))]
		site := strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example"
		switch {
		case i%10 == 9:
			// ERP customer of a company CRM does not know (another country
			// and vocabulary, so it can never resemble a CRM account: their
			// relative order differs between runs).
			jp := []string{"Sakura", "Fuji", "Kaze", "Yama", "Hoshi"}[i%5] + " " + []string{"Shoji", "Kogyo", "Denki"}[i%3] + fmt.Sprintf(" %04d", i)
			out = append(out, srcEvent{contracts.TopicERPCustomerV1, "E" + id, customer("E"+id, jp+" KK", i, func(x *contracts.Customer) {
				x.PaymentTerms, x.BillingAddress = str("NET30"), addr("1-1 Marunouchi", "Tokyo", "1000001", "JP")
			})})
		default:
			out = append(out, srcEvent{contracts.TopicCRMAccountV1, id, account(id, name+" GmbH", i, func(a *contracts.Account) {
				a.Website, a.BillingAddress = str("https://www."+site), addr("Street 1", "City", c.postal, c.cc)
			})})
			if i%7 == 3 {
				// A near-duplicate of it: same site, suffix variant.
				d := id + "-dup"
				out = append(out, srcEvent{contracts.TopicCRMAccountV1, d, account(d, name+" Ltd.", i, func(a *contracts.Account) {
					a.Website, a.BillingAddress = str(site), addr("Street 1", "City", c.postal, c.cc)
				})})
			}
			if i%5 == 2 {
				// Becomes a customer (CREATE command), then tries to set a tax id.
				out = append(out, srcEvent{contracts.TopicCRMAccountV1, id, account(id, name+" GmbH", i+1, func(a *contracts.Account) {
					a.Status = contracts.AccountStatusCustomer
					if c.cc == "DE" {
						a.TaxID = str(fmt.Sprintf("DE%09d", 100000000+i))
					}
				})})
			}
			if i%11 == 5 {
				out = append(out, srcEvent{contracts.TopicCRMAccountV1, id, &contracts.Account{Metadata: meta(id, i+2), Op: contracts.ChangeOperationDelete,
					AccountID: id, Status: contracts.AccountStatusUnknown, SourceUpdatedAt: t0.Add(time.Duration(i+2) * time.Minute)}})
			}
		}
	}
	return out
}

func (e *env) produceStream(in []srcEvent, pace time.Duration) {
	for _, x := range in {
		e.toPartition(0, x.topic, x.key, x.value)
		if pace > 0 {
			time.Sleep(pace)
		}
	}
}

// outputsByKey maps topic/key to the ordered decoded records and checks that no event id appears twice.
func (e *env) outputsByKey(recs []out) (map[string][]string, map[string]bool) {
	e.t.Helper()
	by := map[string][]string{}
	ids := map[string]bool{}
	slices.SortStableFunc(recs, func(a, b out) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	for _, o := range recs {
		if o.Topic == TopicMatch || o.Topic == TopicRoute {
			continue
		}
		if o.Topic == contracts.TopicDlqCustomerSyncV1 {
			e.t.Errorf("unexpected DLQ record %s: %v", o.Key, o.Headers)
			continue
		}
		v, err := newOutput(o.Topic)
		if err != nil {
			e.t.Fatal(err)
		}
		e.decode(o, v)
		id := metadataOf(v).EventID
		if ids[id] {
			e.t.Errorf("duplicated output: %s %s event %s", o.Topic, o.Key, id)
		}
		ids[id] = true
		k := o.Topic + "/" + o.Key
		// Decoded and re-rendered as JSON (sorted map keys): hamba/avro
		// writes Avro maps in Go's random map order, so equal records
		// can differ in bytes.
		j, err := json.Marshal(v)
		if err != nil {
			e.t.Fatal(err)
		}
		by[k] = append(by[k], string(j))
	}
	return by, ids
}

// reference runs the stream through an uninterrupted in-process service.
func reference(t *testing.T, in []srcEvent) (map[string][]string, map[string]bool) {
	e := newEnv(t)
	c := e.collect()
	e.produceStream(in, 0)
	e.start("0")
	recs := e.settle(c, 3*time.Second, 3*time.Minute)
	return e.outputsByKey(recs)
}

// TestReplayDeterminism: a second instance with a new prefix and group over
// the same input yields identical outputs.
func TestReplayDeterminism(t *testing.T) {
	in := stream(150)
	a, aids := reference(t, in)
	b, bids := reference(t, in)
	if len(a) == 0 {
		t.Fatal("no outputs")
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("replay differs (-first +second)\n%s", d)
	}
	if d := cmp.Diff(aids, bids); d != "" {
		t.Errorf("event ids differ (-first +second)\n%s", d)
	}
	t.Logf("%d output keys, %d events, identical", len(a), len(aids))
}

// TestSIGKILLRestart runs the customer-sync binary, SIGKILLs it several
// times while the input is being produced and processed, restarts it, and
// checks with a read_committed consumer that the outputs equal an
// uninterrupted run's: nothing lost, nothing duplicated.
func TestSIGKILLRestart(t *testing.T) {
	in := stream(400)
	want, wantIDs := reference(t, in)

	bin := filepath.Join(t.TempDir(), "customer-sync")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	e := newEnv(t)
	c := e.collect()
	logf, err := os.Create(filepath.Join(t.TempDir(), "service.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	startBin := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "ISTHMUS_KAFKA_BROKERS="+strings.Join(e.brokers, ","), "ISTHMUS_SCHEMA_REGISTRY_URL="+e.registry,
			"ISTHMUS_TOPIC_PREFIX="+e.prefix, "ISTHMUS_ADMIN_ADDR=127.0.0.1:0", "ISTHMUS_INSTANCE_ID=0", "ISTHMUS_LOG_LEVEL=warn",
			// A static member (a StatefulSet replica): the restarted process
			// takes the killed one's place at once, so the kills land while
			// it processes (a dynamic member waits out the dead one's session).
			"ISTHMUS_INSTANCE_STABLE=true")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		e.produceStream(in, 25*time.Millisecond)
	}()
	r := rand.New(rand.NewPCG(1, 2))
	kills, midway := 0, 0
	for ; kills < 5; kills++ {
		before := len(c.snapshot())
		cmd := startBin()
		time.Sleep(time.Duration(1500+r.IntN(2500)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		after := len(c.snapshot())
		if after > before {
			midway++
		}
		t.Logf("SIGKILL %d after %d outputs (%d from this incarnation)", kills+1, after, after-before)
	}
	if midway < 2 {
		t.Errorf("only %d of %d SIGKILLs hit an instance that had committed outputs: the test did not kill a processing instance", midway, kills)
	}
	<-produced
	cmd := startBin()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	recs := e.settle(c, 5*time.Second, 4*time.Minute)
	got, gotIDs := e.outputsByKey(recs)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outputs after %d SIGKILLs differ from the uninterrupted run (-want +got)\n%s", kills, d)
	}
	if d := cmp.Diff(wantIDs, gotIDs); d != "" {
		t.Errorf("event ids differ (-want +got)\n%s", d)
	}
	t.Logf("%d SIGKILLs; %d output events, identical to the uninterrupted run", kills, len(gotIDs))
}
