package legacyerp

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/legacyfile"
	"github.com/isthmus/isthmus/pkg/metrics"
)

// BadKinds are the bad files the ERP writes now and then, in the order
// they rotate, each named by the legacyfile reason a reader refuses it
// for. Each but the duplicate is a corrupt copy of the good file just
// written under a batch id of its own; the duplicate re-sends the previous
// good file as it was (same name and content), which only the reader's
// ledger of applied batches refuses.
var BadKinds = []string{
	legacyfile.ReasonControlTotal,   // the trailer's control total off by one
	legacyfile.ReasonMissingTrailer, // truncated: the trailer is missing
	legacyfile.ReasonDuplicate,      // an already-sent batch re-sent
	legacyfile.ReasonMalformedLine,  // a record cut short
	legacyfile.ReasonNotUTF8,        // Latin-1 bytes in a record
	legacyfile.ReasonRecordCount,    // the trailer's record count off by one
}

var badFiles = metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "isthmus_sim_legacy_bad_files_total",
	Help: "Bad files the simulated legacy ERP wrote into the drop folder's inbound after a good one (ISTHMUS_SIM_LEGACY_BAD_FILES_BPS), by kind (the reason a reader refuses it for).",
}, []string{"kind"}))

var (
	answerFiles = metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_sim_legacy_answer_files_total",
		Help: "Good answer files the simulated legacy ERP wrote into the drop folder's inbound, by file kind (CUSTMAS, ORDSTAT).",
	}, []string{"kind"}))
	requestFiles = metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_sim_legacy_request_files_total",
		Help: "Request files the simulated legacy ERP took from the drop folder's outbound, by file kind and outcome: applied, duplicate (a batch already applied, archived without a second answer), rejected (moved to outbound/rejected with its reason).",
	}, []string{"kind", "outcome"}))
)

// badFile is the next bad file after the good file f: a kind of BadKinds
// in rotation (the duplicate only once there is an earlier good file).
func (e *ERP) badFile(f *legacyfile.File) (outFile, error) {
	kind := BadKinds[e.st.BadFiles%int64(len(BadKinds))]
	e.st.BadFiles++
	if kind == legacyfile.ReasonDuplicate {
		if e.st.LastSent != nil {
			return outFile{Name: e.st.LastSent.Name, Data: e.st.LastSent.Data, Bad: kind}, nil
		}
		kind = BadKinds[e.st.BadFiles%int64(len(BadKinds))]
		e.st.BadFiles++
	}
	copyOf := *f
	copyOf.Batch = e.batch()
	data, err := Corrupt(&copyOf, kind)
	if err != nil {
		return outFile{}, err
	}
	return outFile{Name: copyOf.Name(), Data: data, Bad: kind}, nil
}

// Corrupt encodes f with the fault of kind (one of BadKinds but the
// duplicate, which is no change to a file).
func Corrupt(f *legacyfile.File, kind string) ([]byte, error) {
	data, err := legacyfile.Encode(f)
	if err != nil {
		return nil, err
	}
	total, err := f.ControlTotal()
	if err != nil {
		return nil, err
	}
	trailer := fmt.Sprintf("T,%d,%d\n", len(f.Rows), total)
	body, ok := bytes.CutSuffix(data, []byte(trailer))
	if !ok {
		return nil, fmt.Errorf("legacy ERP: %s does not end with its trailer %q", f.Name(), trailer)
	}
	switch kind {
	case legacyfile.ReasonControlTotal:
		return fmt.Appendf(body, "T,%d,%d\n", len(f.Rows), total+1), nil
	case legacyfile.ReasonMissingTrailer:
		return body, nil
	case legacyfile.ReasonRecordCount:
		return fmt.Appendf(body, "T,%d,%d\n", len(f.Rows)+1, total), nil
	case legacyfile.ReasonMalformedLine, legacyfile.ReasonNotUTF8:
		if len(f.Rows) == 0 {
			return nil, fmt.Errorf("legacy ERP: %s has no record to spoil", f.Name())
		}
		r := f.Rows[0]
		spoilt := append([]string{r.Type}, r.Fields...)
		if kind == legacyfile.ReasonMalformedLine {
			spoilt = spoilt[:2] // the record cut short after its first field
		} else {
			spoilt[1] += " \xc9TABLISSEMENTS" // Latin-1, not UTF-8
		}
		var line bytes.Buffer
		w := csv.NewWriter(&line)
		_ = w.Write(spoilt)
		w.Flush()
		header, _, _ := bytes.Cut(body, []byte("\n")) // the header holds no line break
		rest := body[len(header)+1:]
		first, err := legacyfile.Encode(&legacyfile.File{Kind: f.Kind, Batch: f.Batch, Created: f.Created, Sender: f.Sender, Rows: f.Rows[:1]})
		if err != nil {
			return nil, err
		}
		// the first record as Encode writes it: between the header and the trailer
		_, firstRec, _ := bytes.Cut(first, []byte("\n"))
		firstRec = firstRec[:bytes.LastIndex(firstRec[:len(firstRec)-1], []byte("\n"))+1]
		return slices.Concat(header, []byte{'\n'}, line.Bytes(), rest[len(firstRec):], []byte(trailer)), nil
	}
	return nil, fmt.Errorf("legacy ERP: no bad file of kind %q", kind)
}
