// Package legacyfile is the batch-file interface of an on-premise ERP: the
// files the legacy ERP adapter (services/legacy-bridge) and the legacy ERP
// exchange through a drop folder.
//
// A file is UTF-8 CSV (RFC 4180 quoting) named <KIND>_<BATCH>.csv:
//
//	H,<kind>,<batch>,<created RFC 3339>,<sender>
//	<record>,<field>,...        one row per record, first column its type
//	T,<record count>,<control total>
//
// The batch id (letters, digits, '-', '.', up to 64) is unique per sender
// and kind. Like an IDoc's reference fields, two columns of a request are
// echoed by the ERP on its answers: correlation_id (the flow's) and route
// (the routing mode the request was sent under, see pkg/flowmode); an ERP
// change of its own (a shipment) echoes those of the order it concerns.
// The trailer counts the records between header and trailer and
// carries a control total (per kind: Layouts). Parse checks every rule and
// fails with an *Error naming the rule (Reason), the line and what is wrong,
// so a bad file is refused whole: nothing of it is half-applied.
//
// Kinds:
//
//	CUSTREQ  Isthmus → ERP  customer create/update requests (rows C); control total: the row count
//	ORDERS   Isthmus → ERP  order create/cancel (rows O, each followed by its lines L); control total: sum of O total_minor
//	CUSTMAS  ERP → Isthmus  customer master after a change (rows M); control total: sum of M credit_limit_minor
//	ORDSTAT  ERP → Isthmus  order decisions and later states (rows S with lines L and messages X); control total: sum of S total_minor
package legacyfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kinds of file.
const (
	KindCustomerRequests = "CUSTREQ"
	KindOrders           = "ORDERS"
	KindCustomers        = "CUSTMAS"
	KindOrderStatus      = "ORDSTAT"
)

// Reasons a file is refused (Error.Reason).
const (
	ReasonEmpty          = "empty_file"
	ReasonNotUTF8        = "not_utf8"
	ReasonBadName        = "bad_file_name"
	ReasonMissingHeader  = "missing_header"
	ReasonUnknownKind    = "unknown_kind"
	ReasonBatchMismatch  = "batch_mismatch"
	ReasonMalformedLine  = "malformed_line"
	ReasonUnknownRecord  = "unknown_record"
	ReasonInvalidValue   = "invalid_value"
	ReasonMissingTrailer = "missing_trailer"
	ReasonAfterTrailer   = "content_after_trailer"
	ReasonRecordCount    = "record_count_mismatch"
	ReasonControlTotal   = "control_total_mismatch"
	ReasonOrphanLine     = "orphan_line"
	// ReasonDuplicate is decided by the reader's ledger, not by Parse: a
	// batch id of a sender and kind already processed.
	ReasonDuplicate = "duplicate_file"
)

// Error is why a file is refused.
type Error struct {
	Reason string
	Line   int // 1-based; 0 for the whole file
	Detail string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s at line %d: %s", e.Reason, e.Line, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
}

func fail(reason string, line int, format string, args ...any) *Error {
	return &Error{Reason: reason, Line: line, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf is the reason of a refused file's error ("" for another error).
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Row is one record of a file.
type Row struct {
	Type   string
	Fields []string
	Line   int // where it was read (0 when built)
}

// Field is the named column of the row (Layouts), "" when absent.
func (r Row) Field(kind, name string) string {
	i := slices.Index(Layouts[kind][r.Type], name)
	if i < 0 || i >= len(r.Fields) {
		return ""
	}
	return r.Fields[i]
}

// File is a batch file.
type File struct {
	Kind    string
	Batch   string
	Created time.Time
	Sender  string
	Rows    []Row
}

// Layouts are the columns of each record type per kind (after the type).
var Layouts = map[string]map[string][]string{
	KindCustomerRequests: {
		"C": {"command_id", "action", "golden_id", "erp_customer_id", "crm_account_id", "name", "legal_name", "parent_erp_customer_id", "tax_id",
			"bill_line1", "bill_line2", "bill_city", "bill_region", "bill_postal_code", "bill_country",
			"ship_line1", "ship_line2", "ship_city", "ship_region", "ship_postal_code", "ship_country",
			"phone", "email", "industry", "territory", "owner_id", "changed_fields", "correlation_id", "route"},
	},
	KindCustomers: {
		"M": {"erp_customer_id", "golden_id", "command_id", "crm_account_id", "op", "name", "legal_name", "parent_erp_customer_id", "tax_id", "tax_exempt",
			"bill_line1", "bill_line2", "bill_city", "bill_region", "bill_postal_code", "bill_country",
			"ship_line1", "ship_line2", "ship_city", "ship_region", "ship_postal_code", "ship_country",
			"phone", "email", "industry", "territory", "currency", "payment_terms", "credit_status", "credit_limit_minor", "updated_at", "correlation_id", "route"},
	},
	KindOrders: {
		"O": {"command_id", "action", "order_id", "quote_id", "quote_version", "attempt", "revision", "erp_customer_id", "ship_to_erp_customer_id",
			"currency", "region", "payment_terms", "customer_po", "requested_delivery_date", "total_minor", "credit_reservation_id", "overrides", "correlation_id", "route"},
		"L": {"order_id", "line_number", "sku", "quantity", "list_price_minor", "unit_price_minor", "discount_bps", "line_total_minor", "ship_to_country"},
	},
	KindOrderStatus: {
		"S": {"order_id", "command_id", "erp_order_id", "status", "total_minor", "currency", "invoice_id", "shipment_id", "changed_at", "correlation_id", "route"},
		"L": {"order_id", "line_number", "sku", "status", "rejection_reason", "quantity_confirmed", "quantity_shipped", "erp_message"},
		"X": {"order_id", "code", "text", "line_number"},
	},
}

// controlField is the column summed into a kind's control total ("" counts
// the rows of the kind's main record).
var controlField = map[string]struct{ row, field string }{
	KindCustomerRequests: {"C", ""},
	KindCustomers:        {"M", "credit_limit_minor"},
	KindOrders:           {"O", "total_minor"},
	KindOrderStatus:      {"S", "total_minor"},
}

var (
	batchRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$`)
	nameRE  = regexp.MustCompile(`^([A-Z]+)_([A-Za-z0-9][A-Za-z0-9.-]{0,63})\.csv$`)
)

// Name is the file name of kind and batch.
func Name(kind, batch string) string { return kind + "_" + batch + ".csv" }

// Name is the file's name.
func (f *File) Name() string { return Name(f.Kind, f.Batch) }

// KindOfName is the kind and batch a file name holds.
func KindOfName(name string) (kind, batch string, err error) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return "", "", fail(ReasonBadName, 0, "file name %q is not <KIND>_<BATCH>.csv", name)
	}
	if _, ok := Layouts[m[1]]; !ok {
		return "", "", fail(ReasonUnknownKind, 0, "file kind %q is none of %s", m[1], strings.Join(kinds(), ", "))
	}
	return m[1], m[2], nil
}

func kinds() []string {
	var out []string
	for k := range Layouts {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ControlTotal is the control total of the file's rows.
func (f *File) ControlTotal() (int64, error) {
	cf := controlField[f.Kind]
	var sum int64
	for _, r := range f.Rows {
		if r.Type != cf.row {
			continue
		}
		if cf.field == "" {
			sum++
			continue
		}
		v := r.Field(f.Kind, cf.field)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fail(ReasonInvalidValue, r.Line, "%s %q is not an integer", cf.field, v)
		}
		sum += n
	}
	return sum, nil
}

// Encode writes the file with its header and trailer.
func Encode(f *File) ([]byte, error) {
	layout, ok := Layouts[f.Kind]
	if !ok {
		return nil, fmt.Errorf("legacyfile: unknown kind %q", f.Kind)
	}
	if !batchRE.MatchString(f.Batch) {
		return nil, fmt.Errorf("legacyfile: batch id %q is not 1-64 letters, digits, '-' or '.'", f.Batch)
	}
	total, err := f.ControlTotal()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"H", f.Kind, f.Batch, f.Created.UTC().Format(time.RFC3339), f.Sender})
	for _, r := range f.Rows {
		cols, ok := layout[r.Type]
		if !ok {
			return nil, fmt.Errorf("legacyfile: %s has no record type %q", f.Kind, r.Type)
		}
		if len(r.Fields) != len(cols) {
			return nil, fmt.Errorf("legacyfile: %s record %s has %d fields, want %d", f.Kind, r.Type, len(r.Fields), len(cols))
		}
		_ = w.Write(append([]string{r.Type}, r.Fields...))
	}
	_ = w.Write([]string{"T", strconv.Itoa(len(f.Rows)), strconv.FormatInt(total, 10)})
	w.Flush()
	return buf.Bytes(), w.Error()
}

// Parse reads and checks a whole file named name: its name, header, every
// record against its kind's layout and field rules, and the trailer's
// count and control total.
func Parse(name string, data []byte) (*File, error) {
	kind, batch, err := KindOfName(name)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail(ReasonEmpty, 0, "%s is empty", name)
	}
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:invalidAt(data)], []byte("\n"))
		return nil, fail(ReasonNotUTF8, line, "bytes that are not UTF-8")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	f := &File{Kind: kind, Batch: batch}
	layout := Layouts[kind]
	var trailer []string
	trailerLine := 0
	for n := 0; ; n++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fail(ReasonMalformedLine, pe.StartLine, "%v", pe.Err)
			}
			return nil, fail(ReasonMalformedLine, line, "%v", err)
		}
		if trailer != nil {
			return nil, fail(ReasonAfterTrailer, line, "a %q record after the trailer", rec[0])
		}
		if n == 0 {
			if rec[0] != "H" {
				return nil, fail(ReasonMissingHeader, line, "first record is %q, want the header H", rec[0])
			}
			if len(rec) != 5 {
				return nil, fail(ReasonMalformedLine, line, "header has %d fields, want 5 (H,kind,batch,created,sender)", len(rec))
			}
			if rec[1] != kind {
				return nil, fail(ReasonUnknownKind, line, "header kind %q, but the file name says %s", rec[1], kind)
			}
			if rec[2] != batch {
				return nil, fail(ReasonBatchMismatch, line, "header batch %q, but the file name says %q", rec[2], batch)
			}
			t, err := time.Parse(time.RFC3339, rec[3])
			if err != nil {
				return nil, fail(ReasonInvalidValue, line, "created %q is not an RFC 3339 time", rec[3])
			}
			if strings.TrimSpace(rec[4]) == "" {
				return nil, fail(ReasonInvalidValue, line, "header names no sender")
			}
			f.Created, f.Sender = t, rec[4]
			continue
		}
		if rec[0] == "T" {
			trailer, trailerLine = rec, line
			continue
		}
		cols, ok := layout[rec[0]]
		if !ok {
			return nil, fail(ReasonUnknownRecord, line, "record type %q is not one of %s", rec[0], strings.Join(typesOf(kind), ", "))
		}
		if len(rec)-1 != len(cols) {
			return nil, fail(ReasonMalformedLine, line, "%s record has %d fields, want %d", rec[0], len(rec)-1, len(cols))
		}
		row := Row{Type: rec[0], Fields: rec[1:], Line: line}
		if err := checkRow(kind, row); err != nil {
			return nil, err
		}
		f.Rows = append(f.Rows, row)
	}
	if trailer == nil {
		return nil, fail(ReasonMissingTrailer, 0, "no trailer T: the file is truncated or still being written")
	}
	if len(trailer) != 3 {
		return nil, fail(ReasonMalformedLine, trailerLine, "trailer has %d fields, want 3 (T,count,control total)", len(trailer))
	}
	count, err := strconv.Atoi(trailer[1])
	if err != nil {
		return nil, fail(ReasonInvalidValue, trailerLine, "trailer count %q is not an integer", trailer[1])
	}
	if count != len(f.Rows) {
		return nil, fail(ReasonRecordCount, trailerLine, "trailer counts %d records, the file has %d", count, len(f.Rows))
	}
	want, err := strconv.ParseInt(trailer[2], 10, 64)
	if err != nil {
		return nil, fail(ReasonInvalidValue, trailerLine, "trailer control total %q is not an integer", trailer[2])
	}
	got, err := f.ControlTotal()
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, fail(ReasonControlTotal, trailerLine, "trailer control total %d, the records sum to %d", want, got)
	}
	if err := checkLines(f); err != nil {
		return nil, err
	}
	return f, nil
}

func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func typesOf(kind string) []string {
	var out []string
	for t := range Layouts[kind] {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
