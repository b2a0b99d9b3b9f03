package dev

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/serde"
)

// Stats is the live picture `isthmus dev` prints, built from the public
// output streams (not from any service's internals).
type Stats struct {
	EventsPerSec     float64        `json:"events_per_sec"`
	RecordsIn        float64        `json:"records_in"`
	OrdersByState    map[string]int `json:"orders_by_state"`
	OpenExceptions   map[string]int `json:"open_exceptions_by_queue"`
	ExceptionsByKind map[string]int `json:"exceptions_by_category"`
	OpenBreaks       map[string]int `json:"open_breaks_by_kind"`
	GoldenCustomers  int            `json:"golden_customers"`
	Journals         int            `json:"journal_commands"`
	// Assets is the installed base (erp.asset.v1, latest per serial);
	// Cases the service cases the CRM opened (crm.case.v1).
	Assets int `json:"assets"`
	Cases  int `json:"service_cases"`
	// The field-service flows: cases that are returns, the commands to
	// ERP, the updates to CRM by event, field-service's journals by kind
	// and how many of those do not balance.
	ReturnCases          int            `json:"return_cases"`
	ServiceOrderCommands int            `json:"service_order_commands"`
	ReturnCommands       int            `json:"return_commands"`
	CaseUpdates          map[string]int `json:"case_updates_by_event"`
	FieldJournals        map[string]int `json:"field_service_journals_by_kind"`
	UnbalancedJournals   int            `json:"unbalanced_journals"`
	// OpenByQueueKind counts open (or retrying) exceptions by
	// "<queue>/<category>".
	OpenByQueueKind map[string]int `json:"open_exceptions_by_queue_and_category"`
	// ByRejectionCode counts exceptions by the ERP rejection code in their
	// context (rejection_code), e.g. PERIOD_CLOSED.
	ByRejectionCode map[string]int `json:"exceptions_by_rejection_code"`
	// OpenSamples shows, for each "<queue>/<category>" with open
	// exceptions, up to three of them (id, reason and summary, by id), so
	// an unexpected kind in a run explains itself.
	OpenSamples map[string][]string `json:"open_exception_samples,omitempty"`
}

type projection struct {
	mu         sync.Mutex
	orders     map[string]string
	exceptions map[string]contracts.OperationalException
	codes      map[string]string // exception id → ERP rejection code, as first raised
	breaks     map[string]contracts.ReconBreak
	golden     map[string]bool
	journals   int
	assets     map[string]bool
	cases      map[string]bool
	returns    map[string]bool
	soCmds     int
	rtCmds     int
	updates    map[string]int
	fsJournals map[string]int
	unbalanced int
}

func newProjection() *projection {
	return &projection{orders: map[string]string{}, exceptions: map[string]contracts.OperationalException{}, codes: map[string]string{},
		breaks: map[string]contracts.ReconBreak{}, golden: map[string]bool{}, assets: map[string]bool{}, cases: map[string]bool{},
		returns: map[string]bool{}, updates: map[string]int{}, fsJournals: map[string]int{}}
}

func (p *projection) apply(ctx context.Context, sd *serde.Serde, topic string, r *kgo.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch topic {
	case contracts.TopicOrdersLifecycleV1:
		var v contracts.OrderLifecycle
		if sd.Decode(ctx, r.Value, &v) == nil {
			p.orders[v.OrderID] = v.State
		}
	case contracts.TopicOpsExceptionsV1:
		var v contracts.OperationalException
		if sd.Decode(ctx, r.Value, &v) == nil {
			p.exceptions[v.ExceptionID] = v
			if code := v.Context["rejection_code"]; code != "" {
				p.codes[v.ExceptionID] = code
			}
		}
	case contracts.TopicReconBreaksV1:
		var v contracts.ReconBreak
		if sd.Decode(ctx, r.Value, &v) == nil {
			p.breaks[v.BreakID] = v
		}
	case contracts.TopicMDMCustomerV1:
		if r.Value == nil {
			delete(p.golden, string(r.Key))
		} else {
			p.golden[string(r.Key)] = true
		}
	case contracts.TopicERPJournalCommandsV1:
		p.journals++
		var v contracts.JournalCommand
		if sd.Decode(ctx, r.Value, &v) != nil {
			return
		}
		var dr, cr int64
		for _, l := range v.Lines {
			dr += l.Debit.AmountMinor
			cr += l.Credit.AmountMinor
		}
		if dr != cr || dr == 0 {
			p.unbalanced++
		}
		if strings.HasPrefix(v.JournalCommandID, "FS/") {
			p.fsJournals[v.Kind]++
		}
	case contracts.TopicERPServiceOrderCommandsV1:
		p.soCmds++
	case contracts.TopicERPReturnCommandsV1:
		p.rtCmds++
	case contracts.TopicCRMCaseUpdatesV1:
		var v contracts.CaseUpdate
		if sd.Decode(ctx, r.Value, &v) == nil {
			p.updates[v.Event]++
		}
	case contracts.TopicERPAssetV1:
		if r.Value == nil {
			delete(p.assets, string(r.Key))
		} else {
			p.assets[string(r.Key)] = true
		}
	case contracts.TopicCRMCaseV1:
		p.cases[string(r.Key)] = true
		var v contracts.Case
		if sd.Decode(ctx, r.Value, &v) == nil && v.ReturnRequest != nil {
			p.returns[v.CaseID] = true
		}
	}
}

func (p *projection) stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{OrdersByState: map[string]int{}, OpenExceptions: map[string]int{}, ExceptionsByKind: map[string]int{}, OpenBreaks: map[string]int{},
		GoldenCustomers: len(p.golden), Journals: p.journals, Assets: len(p.assets), Cases: len(p.cases), OpenByQueueKind: map[string]int{}, ByRejectionCode: map[string]int{},
		OpenSamples: map[string][]string{}, ReturnCases: len(p.returns), ServiceOrderCommands: p.soCmds, ReturnCommands: p.rtCmds,
		CaseUpdates: maps.Clone(p.updates), FieldJournals: maps.Clone(p.fsJournals), UnbalancedJournals: p.unbalanced}
	for _, st := range p.orders {
		s.OrdersByState[st]++
	}
	for _, e := range p.exceptions {
		s.ExceptionsByKind[e.Category]++
		if e.Status == contracts.ExceptionStatusOpen || e.Status == contracts.ExceptionStatusRetrying {
			s.OpenExceptions[e.Queue]++
			s.OpenByQueueKind[e.Queue+"/"+e.Category]++
			k := e.Queue + "/" + e.Category
			s.OpenSamples[k] = append(s.OpenSamples[k], fmt.Sprintf("%s [%s]: %s", e.ExceptionID, e.Context["reason"], e.Summary))
		}
	}
	for k, v := range s.OpenSamples {
		sort.Strings(v)
		s.OpenSamples[k] = v[:min(len(v), 3)]
	}
	for _, code := range p.codes {
		s.ByRejectionCode[code]++
	}
	for _, b := range p.breaks {
		if b.Status == contracts.BreakStatusOpen {
			s.OpenBreaks[b.Kind]++
		}
	}
	return s
}

// recordsIn sums the processors' input counters of this process.
func recordsIn() float64 {
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		return 0
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "isthmus_processor_records_in_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// summarize follows the public streams and prints one live summary line.
// At the end it writes the final Stats as JSON when ISTHMUS_DEV_SUMMARY_FILE
// is set (the smoke test reads it).
func summarize(ctx context.Context, common *config.Common, out io.Writer) error {
	rc, err := common.Registry.Client()
	if err != nil {
		return err
	}
	sd := serde.New(rc)
	topics := []string{contracts.TopicOrdersLifecycleV1, contracts.TopicOpsExceptionsV1, contracts.TopicReconBreaksV1, contracts.TopicMDMCustomerV1, contracts.TopicERPJournalCommandsV1,
		contracts.TopicERPAssetV1, contracts.TopicCRMCaseV1, contracts.TopicERPServiceOrderCommandsV1, contracts.TopicERPReturnCommandsV1, contracts.TopicCRMCaseUpdatesV1}
	physical := make([]string, len(topics))
	for i, t := range topics {
		physical[i] = common.Topic(t)
	}
	cl, err := common.Kafka.NewClient(kgo.ConsumeTopics(physical...), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	p := newProjection()
	go func() {
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { p.apply(ctx, sd, common.Kafka.Logical(r.Topic), r) })
		}
	}()
	tty := isTerminal(out)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last, lastAt := recordsIn(), time.Now()
	lines := 0
	var final Stats
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(out)
			}
			fmt.Fprintln(out, "final: "+line(final))
			if f := os.Getenv("ISTHMUS_DEV_SUMMARY_FILE"); f != "" {
				b, _ := json.MarshalIndent(final, "", "  ")
				if err := os.WriteFile(f, b, 0o644); err != nil {
					return err
				}
			}
			return nil
		case now := <-tick.C:
			total := recordsIn()
			final = p.stats()
			final.RecordsIn = total
			final.EventsPerSec = (total - last) / now.Sub(lastAt).Seconds()
			last, lastAt = total, now
			if tty {
				fmt.Fprintf(out, "\r\033[K%s", line(final))
			} else if lines%5 == 0 {
				fmt.Fprintln(out, line(final))
			}
			lines++
		}
	}
}

func line(s Stats) string {
	open := 0
	for _, n := range s.OpenExceptions {
		open += n
	}
	breaks := 0
	for _, n := range s.OpenBreaks {
		breaks += n
	}
	return fmt.Sprintf("%.0f ev/s | orders %s | open exceptions %d | open breaks %d | golden customers %d | journals %d | assets %d | cases %d",
		s.EventsPerSec, counts(s.OrdersByState), open, breaks, s.GoldenCustomers, s.Journals, s.Assets, s.Cases)
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", strings.ToLower(k), m[k])
	}
	return strings.Join(parts, ", ")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

var lookupEnv = os.LookupEnv
