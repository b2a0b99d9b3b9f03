package golden

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/pkg/normalize"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/xref"
)

// ErrUnknownGolden is returned (wrapped, class Poison) for a decision that
// names a golden id this partition does not hold.
var ErrUnknownGolden = errors.New("unknown golden id")

// State is the aggregate state of one match partition. Not safe for
// concurrent use: a partition has one writer.
type State struct {
	cfg     Config
	records map[string]*Record
	index   *match.Index
	xref    *xref.Store
	parked  map[string][]parkedContact // CRM account id → contacts, sorted by id
	// territoryVersion is the version of the territory rules every record
	// has been assigned with (territory.go).
	territoryVersion string
}

type parkedContact struct {
	Contact
	AccountID string `json:"account_id"`
}

// New returns an empty state.
func New(cfg Config) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &State{
		cfg:     cfg,
		records: map[string]*Record{},
		index:   match.NewIndex(cfg.Match),
		xref:    xref.New(),
		parked:  map[string][]parkedContact{},
	}, nil
}

// Record returns a copy of golden record id (redirects are not followed).
func (s *State) Record(id string) (Record, bool) {
	r, ok := s.records[id]
	if !ok {
		return Record{}, false
	}
	return r.clone(), true
}

// Lookup is the xref look-up: the live golden id of a source record and
// the other records of that golden record.
func (s *State) Lookup(ref xref.Ref) (string, []xref.Ref, bool) { return s.xref.Lookup(ref) }

// Len is the number of live golden records.
func (s *State) Len() int { return s.index.Len() }

// tx collects the effects of one Apply.
type tx struct {
	s      *State
	block  string // the match block the event was routed to (ApplyIn)
	m      Meta
	at     int64
	out    Outputs
	dirty  map[string]bool   // golden ids to publish and persist
	parked map[string]bool   // account ids whose parked contacts changed
	keep   map[string]bool   // golden ids to persist without publishing (handed over)
	gcs    map[string]string // golden contact ids to publish → golden id holding them
	gcInto map[string]string // golden contact ids merged away → survivor
	xrefs  map[xref.Ref]bool
}

// Apply decides one event. On error the state is unchanged and the outputs
// are empty; the error is classified with pkg/errs: Poison for input that
// can never be applied (validation, unknown golden id in a decision).
// Golden records it creates carry no match block (ApplyIn).
func (s *State) Apply(ev Event) (Outputs, error) { return s.ApplyIn("", ev) }

// ApplyIn is Apply for an event routed to match block block (BlockOf):
// the ids of the golden records it creates carry the block, so any event
// that names a golden id can be routed to the partition holding it.
func (s *State) ApplyIn(block string, ev Event) (Outputs, error) {
	m := ev.meta()
	if m.OccurredAt.IsZero() {
		return Outputs{}, errs.Poison(errs.ReasonValidation, &normalize.Error{Field: "occurred_at", Reason: "occurred_at is required"})
	}
	t := &tx{s: s, block: block, m: m, at: m.OccurredAt.UnixMilli(), dirty: map[string]bool{}, parked: map[string]bool{}, keep: map[string]bool{}, xrefs: map[xref.Ref]bool{},
		gcs: map[string]string{}, gcInto: map[string]string{}}
	var err error
	switch e := ev.(type) {
	case SourceUpserted:
		err = t.upsert(e)
	case SourceDeleted:
		err = t.deleteSource(e)
	case ContactUpserted:
		err = t.upsertContact(e)
	case ContactDeleted:
		err = t.deleteContact(e)
	case StewardMerge:
		err = t.merge(e)
	case Absorb:
		err = t.absorb(e)
	case ParentResolved:
		err = t.parentResolved(e)
	case StewardNotDuplicate:
		err = t.notDuplicate(e)
	case StewardPick:
		err = t.pick(e)
	case StewardSplit:
		err = t.split(e)
	case StewardClose:
		err = t.closeException(e)
	case LeadQualified:
		err = t.lead(e)
	case EraseRequested:
		err = t.erase(e)
	default:
		err = errs.Poisonf(errs.ReasonValidation, "golden: unsupported event %T", ev)
	}
	if err != nil {
		return Outputs{}, err
	}
	t.sweepTerritories()
	return t.finish(), nil
}

func validation(err error) error { return errs.Poison(errs.ReasonValidation, err) }

// ---- source records ------------------------------------------------------

// identity normalises and validates the attributes of a source record and
// returns the canonical attributes and match features.
func identity(e SourceUpserted) (map[Field]string, match.Features, error) {
	a := e.Attrs
	raw := match.Raw{
		Name: a[survivorship.Name], LegalName: a[survivorship.LegalName], Country: a[survivorship.Country],
		Website: a[survivorship.Website], TaxID: a[survivorship.TaxID], Phone: a[survivorship.Phone],
		PostalCode: a[survivorship.PostalCode],
	}
	if e.System == survivorship.CRM && strings.TrimSpace(raw.Name) == "" {
		raw.LegalName = "" // a CRM account must have its own name
	}
	f, err := match.FromRaw(raw)
	if err != nil {
		return nil, f, err
	}
	out := make(map[Field]string, len(a))
	for k, v := range a {
		if v = strings.TrimSpace(v); v != "" {
			out[k] = v
		}
	}
	set := func(k Field, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set(survivorship.Country, f.Country)
	set(survivorship.Website, f.Domain)
	set(survivorship.TaxID, f.TaxID)
	set(survivorship.Phone, f.Phone)
	set(survivorship.PostalCode, f.Postal)
	if v := a[survivorship.Email]; v != "" {
		em, err := normalize.Email(v)
		if err != nil {
			return nil, f, err
		}
		out[survivorship.Email] = em
	}
	if v := a[survivorship.CreditLimit]; v != "" {
		if _, _, err := normalize.ParseMoney(v); err != nil {
			return nil, f, &normalize.Error{Field: string(survivorship.CreditLimit), Value: v, Reason: `want "CUR minorunits", e.g. "EUR 1250000"`}
		}
	}
	if e.System == survivorship.ERP && out[survivorship.ERPCustomerNumber] == "" {
		out[survivorship.ERPCustomerNumber] = e.RecordID
	}
	return out, f, nil
}

func (t *tx) upsert(e SourceUpserted) error {
	if e.System == "" || e.RecordID == "" {
		return validation(&normalize.Error{Field: "record_id", Reason: "system and record id are required"})
	}
	attrs, feat, err := identity(e)
	if err != nil {
		return validation(err)
	}
	s := t.s
	ref := xref.Ref{System: string(e.System), ID: e.RecordID}
	var rec *Record
	if g, ok := s.xref.Golden(ref); ok {
		if b, away := t.away(g); away {
			t.out.Forward = b
			return nil
		}
		rec = s.records[s.xref.Resolve(g)]
		if mb := rec.member(ref); mb != nil && !mb.Active {
			mb.Active, mb.RetiredAt = true, 0 // re-created in the source
			t.touch(rec)
			t.xrefs[ref] = true
		}
	} else if b, away := t.away(e.GoldenRef); e.GoldenRef != "" && away {
		// It answers our command for a record handed over to another
		// block: remember it on the marker, so its later events (even
		// without golden id) follow.
		if mk, ok := s.records[e.GoldenRef]; ok && mk.MergedInto != "" {
			s.xref.Link(ref, mk.ID)
			mk.Members = append(mk.Members, Member{System: e.System, RecordID: e.RecordID, Active: true, LinkedAt: t.at, LinkedBy: "golden_ref"})
			sortMembers(mk.Members)
			t.keep[mk.ID] = true
		}
		t.out.Forward = b
		return nil
	} else {
		rec = t.place(e, ref, feat)
	}
	before := s.features(rec)
	changed := t.applyAttrs(rec, e, attrs)
	after := s.features(rec)
	if after != before {
		s.index.Upsert(idOf(rec.ID), after)
		if !t.isNewLink(ref) {
			t.rematch(rec, ref, after)
		}
	}
	if e.System == survivorship.CRM {
		t.unpark(rec, e.RecordID)
	}
	t.parentRef(rec)
	if e.System == survivorship.CRM && t.isNewLink(ref) {
		t.welcomeCRM(rec, e.RecordID)
	}
	if e.System == survivorship.ERP && t.isNewLink(ref) && rec.ParentERP != "" && attrs[survivorship.ParentERPCustomer] != rec.ParentERP {
		// An ERP customer joins a record whose parent (from the CRM) the
		// ERP does not have yet.
		t.out.ERPCommands = append(t.out.ERPCommands, t.parentCommand(rec, e.RecordID))
	}
	t.commands(rec, e.System, changed)
	return nil
}

func (t *tx) parentCommand(rec *Record, erpID string) ERPCommand {
	return ERPCommand{
		CommandID: commandID(UpdateCustomer, rec.ID+"/"+erpID+"/parent", t.m.EventID), Kind: UpdateCustomer,
		GoldenID: rec.ID, ERPCustomerNumber: erpID, Fields: map[Field]string{survivorship.ParentERPCustomer: rec.ParentERP},
		CorrelationID: t.m.CorrelationID,
	}
}

// parentRef derives the source record of the record's parent company from
// its surviving attributes and, when it changed, asks for its golden id
// (or clears the parent).
func (t *tx) parentRef(rec *Record) {
	var want xref.Ref
	if v := rec.Attrs[survivorship.ParentERPCustomer].Value; v != "" {
		want = xref.Ref{System: string(survivorship.ERP), ID: v}
	} else if v := rec.Attrs[survivorship.ParentAccount].Value; v != "" {
		want = xref.Ref{System: string(survivorship.CRM), ID: v}
	}
	if want == rec.ParentRef {
		return
	}
	rec.ParentRef = want
	t.touch(rec)
	if want == (xref.Ref{}) {
		t.clearParent(rec)
		return
	}
	t.out.ParentAsks = append(t.out.ParentAsks, ParentAsk{Child: rec.ID, Ref: want})
}

// place finds or creates the golden record of a source record seen for the
// first time, and links it.
func (t *tx) place(e SourceUpserted, ref xref.Ref, feat match.Features) *Record {
	s := t.s
	if e.GoldenRef != "" {
		if r, ok := s.records[s.xref.Resolve(e.GoldenRef)]; ok {
			t.link(r, ref, "golden_ref", 0)
			return r
		}
	}
	d := s.index.Match(feat, nil)
	switch d.Outcome {
	case match.Merge:
		r := s.records[strID(d.Target)]
		t.link(r, ref, "auto_merge", d.Candidates[0].Score)
		return r
	case match.Review:
		r := t.create(ref)
		t.link(r, ref, "new", 0)
		t.proposeDuplicates(r, ref, d.Candidates, "new record resembles existing golden records")
		return r
	}
	r := t.create(ref)
	t.link(r, ref, "new", 0)
	return r
}

func (t *tx) isNewLink(ref xref.Ref) bool { return t.xrefs[ref] }

// rematch looks for duplicates of an existing golden record whose identity
// changed. Existing golden records are never merged automatically: a
// candidate at or above the review threshold raises PROBABLE_DUPLICATE once
// per pair.
func (t *tx) rematch(rec *Record, ref xref.Ref, f match.Features) {
	s := t.s
	self := idOf(rec.ID)
	d := s.index.Match(f, func(id match.ID) bool {
		g := strID(id)
		return id == self || s.xref.IsNotDuplicate(rec.ID, g) || slices.Contains(rec.Proposed, g)
	})
	if d.Outcome == match.New {
		return
	}
	t.proposeDuplicates(rec, ref, d.Candidates, "golden record changed and now resembles other golden records")
}

func (t *tx) proposeDuplicates(rec *Record, ref xref.Ref, cands []match.Candidate, msg string) {
	ex := Exception{
		ID:       exceptionID(ProbableDuplicate, rec.ID, t.m.EventID),
		Category: ProbableDuplicate, Severity: "medium",
		GoldenID: rec.ID, Source: ref, Message: msg,
		CorrelationID: t.m.CorrelationID, CausationID: t.m.EventID, OccurredAt: t.at,
	}
	for _, c := range cands {
		g := strID(c.ID)
		ex.Candidates = append(ex.Candidates, Candidate{GoldenID: g, Score: c.Score, Evidence: c.Evidence})
		if !slices.Contains(rec.Proposed, g) {
			rec.Proposed = append(rec.Proposed, g)
		}
	}
	slices.Sort(rec.Proposed)
	t.out.Exceptions = append(t.out.Exceptions, ex)
	t.touch(rec)
}

// create makes a new golden record whose id derives from the first source
// record, so a replay creates the same id.
func (t *tx) create(ref xref.Ref) *Record {
	s := t.s
	id := newID(ref, t.block, func(g string) bool { _, taken := s.records[g]; return taken })
	r := &Record{ID: id, Attrs: map[Field]survivorship.Value{}, OwnershipVersion: s.cfg.Ownership.Version}
	s.records[id] = r
	t.touch(r)
	return r
}

func (t *tx) link(r *Record, ref xref.Ref, by string, score float64) {
	t.s.xref.Link(ref, r.ID)
	r.Members = append(r.Members, Member{System: System(ref.System), RecordID: ref.ID, Active: true, LinkedAt: t.at, LinkedBy: by, MatchScore: score})
	sortMembers(r.Members)
	t.xrefs[ref] = true
	t.touch(r)
}

// applyAttrs runs survivorship for every sent attribute in field order and
// returns the fields whose value changed.
func (t *tx) applyAttrs(rec *Record, e SourceUpserted, attrs map[Field]string) []Field {
	src := survivorship.Lineage{System: e.System, RecordID: e.RecordID, OccurredAt: t.at, EventID: t.m.EventID}
	ref := xref.Ref{System: string(e.System), ID: e.RecordID}
	c := &copies{member: rec.member(ref), first: t.isNewLink(ref), echo: e.CommandID != ""}
	var changed []Field
	for _, f := range slices.Sorted(maps.Keys(attrs)) {
		if t.proposeFrom(rec, f, attrs[f], src, c) {
			changed = append(changed, f)
		}
	}
	return changed
}

// copies tells propose whether a non-owner's value is a change by that
// system: the source record's previous copies, whether this is its first
// event in the golden record, and whether it answers one of our commands.
type copies struct {
	member *Member
	first  bool
	echo   bool
}

// copyOf fingerprints a value for Member.Copies (8 bytes of SHA-256, so a
// long address costs what a short name does).
func copyOf(v string) string {
	h := sha256.Sum256([]byte(v))
	return fmt.Sprintf("%x", h[:8])
}

// propose applies one value through survivorship, writes audit entries and
// conflicts, and reports whether the golden value changed.
func (t *tx) propose(rec *Record, f Field, v string, src survivorship.Lineage, rulePrefix string) bool {
	return t.decide(rec, f, v, src, rulePrefix, nil)
}

// proposeFrom is propose for a source record's own event: a value for an
// attribute the source's system does not own is remembered as its copy,
// and a refused value is an OWNERSHIP_CONFLICT only when the source changed
// its copy. A CRM keeps stale copies of ERP-owned fields and resends them
// with every account change; the ERP echoes the CRM-owned values we sent
// it. Neither is a change by the non-owner.
func (t *tx) proposeFrom(rec *Record, f Field, v string, src survivorship.Lineage, c *copies) bool {
	return t.decide(rec, f, v, src, "", c)
}

func (t *tx) decide(rec *Record, f Field, v string, src survivorship.Lineage, rulePrefix string, c *copies) bool {
	own := t.s.cfg.Ownership
	cur, ok := rec.Attrs[f]
	o := own.Decide(f, cur, ok, v, src, rec.Erased)
	resent, copyRule := false, survivorship.RuleConflict
	if r, known := own.Fields[f]; known && c != nil && c.member != nil && r.Owner != src.System {
		fp := copyOf(v)
		prev, had := c.member.Copies[f]
		resent = had && prev == fp
		if !resent {
			if c.member.Copies == nil {
				c.member.Copies = map[Field]string{}
			}
			c.member.Copies[f] = fp
			t.touch(rec)
		}
		if c.first || c.echo {
			copyRule = survivorship.RuleNotOwnerCopy
		}
	}
	mask := func(x string) string {
		if rec.Erased && own.IsPII(f) && x != "" {
			return "[erased]"
		}
		return x
	}
	switch {
	case o.Applied:
		rec.Attrs[f] = o.Next
		t.audit(rec, string(f), cur.Value, v, src, rulePrefix+o.Rule, true)
		t.touch(rec)
		return true
	case o.LineageOnly:
		rec.Attrs[f] = o.Next
		t.touch(rec)
	case o.Rule == survivorship.RuleErased:
		t.audit(rec, string(f), "", v, src, rulePrefix+o.Rule, false) // masked by audit
	case o.Conflict && resent:
		// The source resent the copy it sent before: refused and audited
		// then; nothing changed since.
	case o.Conflict && o.Rule == survivorship.RuleConflict && copyRule == survivorship.RuleNotOwnerCopy:
		t.audit(rec, string(f), cur.Value, v, src, rulePrefix+copyRule, false)
	case o.Conflict:
		t.audit(rec, string(f), cur.Value, v, src, rulePrefix+o.Rule, false)
		if own.ConflictExceptions && rulePrefix == "" {
			owner := own.Fields[f].Owner
			t.out.Exceptions = append(t.out.Exceptions, Exception{
				ID:       exceptionID(OwnershipConflict, rec.ID, t.m.EventID+"/"+string(f)),
				Category: OwnershipConflict, Severity: "low",
				GoldenID: rec.ID, Source: xref.Ref{System: string(src.System), ID: src.RecordID},
				Message: fmt.Sprintf("%s changed %s, which %s owns; not applied", src.System, f, owner),
				Context: map[string]string{"field": string(f), "current": mask(cur.Value), "proposed": mask(v),
					"owner": string(owner), "ownership_version": strconv.Itoa(own.Version)},
				CorrelationID: t.m.CorrelationID, CausationID: t.m.EventID, OccurredAt: t.at,
			})
		}
	}
	return false
}

func (t *tx) audit(rec *Record, field, old, new string, src survivorship.Lineage, rule string, applied bool) {
	if rec.Erased && t.s.cfg.Ownership.IsPII(Field(field)) || rec.Erased && strings.HasPrefix(field, "contacts/") {
		if old != "" {
			old = "[erased]"
		}
		if new != "" {
			new = "[erased]"
		}
	}
	t.out.Audit = append(t.out.Audit, Audit{
		GoldenID: rec.ID, Field: field, Old: old, New: new, Source: src, Rule: rule, Applied: applied,
		OwnershipVersion: t.s.cfg.Ownership.Version, CorrelationID: t.m.CorrelationID,
	})
}

// commands derives ERP customer commands and CRM account updates.
func (t *tx) commands(rec *Record, from System, changed []Field) {
	cfg := t.s.cfg
	var erps, crms []string
	for _, m := range rec.Members {
		if !m.Active {
			continue
		}
		switch m.System {
		case survivorship.ERP:
			erps = append(erps, m.RecordID)
		case survivorship.CRM:
			crms = append(crms, m.RecordID)
		}
	}
	stage := rec.Attrs[survivorship.LifecycleStage].Value
	if len(erps) == 0 && !rec.ERPRequested && stage != "" && slices.Contains(cfg.ERPCreateStages, strings.ToLower(stage)) {
		fields := map[Field]string{}
		for _, f := range append(slices.Clone(cfg.ERPKeeps), survivorship.Country, survivorship.PostalCode,
			survivorship.BillingAddress, survivorship.TaxID, survivorship.LegalName) {
			if v, ok := rec.Attrs[f]; ok {
				fields[f] = v.Value
			}
		}
		if rec.ParentERP != "" {
			fields[survivorship.ParentERPCustomer] = rec.ParentERP
		}
		rec.ERPRequested = true
		t.touch(rec)
		t.out.ERPCommands = append(t.out.ERPCommands, ERPCommand{
			CommandID: commandID(CreateCustomer, rec.ID, t.m.EventID), Kind: CreateCustomer, GoldenID: rec.ID,
			Fields: fields, CorrelationID: t.m.CorrelationID,
		})
	}
	if from != survivorship.ERP && len(erps) > 0 {
		fields := pick(rec, changed, cfg.ERPKeeps)
		if len(fields) > 0 {
			for _, n := range erps {
				t.out.ERPCommands = append(t.out.ERPCommands, ERPCommand{
					CommandID: commandID(UpdateCustomer, rec.ID+"/"+n, t.m.EventID), Kind: UpdateCustomer,
					GoldenID: rec.ID, ERPCustomerNumber: n, Fields: fields, CorrelationID: t.m.CorrelationID,
				})
			}
		}
	}
	if from != survivorship.CRM && len(crms) > 0 {
		fields := pick(rec, changed, cfg.CRMReceives)
		if len(fields) > 0 {
			for _, a := range crms {
				t.out.CRMUpdates = append(t.out.CRMUpdates, CRMUpdate{AccountID: a, GoldenID: rec.ID, Fields: fields, CorrelationID: t.m.CorrelationID})
			}
		}
	}
}

func pick(rec *Record, changed, wanted []Field) map[Field]string {
	var out map[Field]string
	for _, f := range changed {
		if slices.Contains(wanted, f) {
			if out == nil {
				out = map[Field]string{}
			}
			out[f] = rec.Attrs[f].Value
		}
	}
	return out
}

func (t *tx) deleteSource(e SourceDeleted) error {
	ref := xref.Ref{System: string(e.System), ID: e.RecordID}
	g, ok := t.s.xref.Golden(ref)
	if !ok {
		return nil // unknown or already gone: idempotent
	}
	if b, away := t.away(g); away {
		t.out.Forward = b
		return nil
	}
	rec := t.s.records[t.s.xref.Resolve(g)]
	if mb := rec.member(ref); mb != nil && mb.Active {
		mb.Active, mb.RetiredAt = false, t.at
		t.xrefs[ref] = true
		t.touch(rec)
	}
	return nil
}

// ---- contacts ----------------------------------------------------------

func (t *tx) upsertContact(e ContactUpserted) error {
	email, err := contactEmail(e)
	if err != nil {
		return err
	}
	c := Contact{ID: e.ContactID, Name: strings.TrimSpace(e.Name), Email: email, Role: strings.TrimSpace(e.Role),
		Lineage: survivorship.Lineage{System: survivorship.CRM, RecordID: e.ContactID, OccurredAt: t.at, EventID: e.EventID}}
	ref := xref.Ref{System: string(survivorship.CRM), ID: e.AccountID}
	country := ""
	var rec *Record
	if g, ok := t.s.xref.Golden(ref); ok {
		if b, away := t.away(g); away {
			t.out.Forward = b
			return nil
		}
		rec = t.s.records[t.s.xref.Resolve(g)]
		country = rec.Attrs[survivorship.Country].Value
	}
	if e.Phone != "" {
		p, err := normalize.Phone(e.Phone, country)
		if err != nil {
			return validation(err)
		}
		c.Phone = p
	}
	if rec == nil {
		t.park(e.AccountID, c)
		return nil
	}
	t.putContact(rec, c)
	return nil
}

func (t *tx) park(account string, c Contact) {
	list := t.s.parked[account]
	i, found := slices.BinarySearchFunc(list, c.ID, func(p parkedContact, id string) int { return strings.Compare(p.ID, id) })
	pc := parkedContact{Contact: c, AccountID: account}
	if found {
		if !newer(c.Lineage, list[i].Lineage) {
			return
		}
		list[i] = pc
	} else {
		list = slices.Insert(list, i, pc)
	}
	t.s.parked[account] = list
	t.parked[account] = true
}

// unpark applies the contacts that waited for CRM account id.
func (t *tx) unpark(rec *Record, account string) {
	list, ok := t.s.parked[account]
	if !ok {
		return
	}
	delete(t.s.parked, account)
	t.parked[account] = true
	for _, pc := range list {
		t.putContact(rec, pc.Contact)
	}
}

func (t *tx) putContact(rec *Record, c Contact) {
	i, found := slices.BinarySearchFunc(rec.Contacts, c.ID, func(x Contact, id string) int { return strings.Compare(x.ID, id) })
	old := ""
	if found {
		if !newer(c.Lineage, rec.Contacts[i].Lineage) {
			return
		}
		old = rec.Contacts[i].render()
	}
	if rec.Erased {
		t.audit(rec, "contacts/"+c.ID, old, c.render(), c.Lineage, survivorship.RuleErased, false)
		return
	}
	if found {
		if c.Golden = rec.Contacts[i].Golden; c.Golden == "" {
			c.Golden = newContactID(c.ID)
		}
		rec.Contacts[i] = c
	} else {
		prev := c.Golden
		c.Golden = contactGolden(rec.Contacts, c)
		if prev != "" && prev != c.Golden {
			// A contact of a merged golden record is the same person
			// as one of the survivor's: its golden contact merges.
			t.gcInto[prev] = c.Golden
			t.gcs[prev] = rec.ID
		}
		rec.Contacts = slices.Insert(rec.Contacts, i, c)
	}
	t.gcs[c.Golden] = rec.ID
	if old != c.render() {
		t.audit(rec, "contacts/"+c.ID, old, c.render(), c.Lineage, survivorship.RuleOwner, true)
	}
	t.touch(rec)
}

// contactGolden is the golden contact of a new contact c of a record
// holding list: that of a contact with the same e-mail address, else c's
// own (a contact moved by a merge keeps its golden contact), else a new one
// derived from c's id.
func contactGolden(list []Contact, c Contact) string {
	if c.Email != "" {
		for _, x := range list {
			if x.Email == c.Email && x.Golden != "" {
				return x.Golden
			}
		}
	}
	if c.Golden != "" {
		return c.Golden
	}
	return newContactID(c.ID)
}

// newContactID derives a golden contact id from its first CRM contact:
// "con-" and 16 hex digits of SHA-256.
func newContactID(crmID string) string {
	h := sha256.Sum256([]byte("contact\x00" + crmID))
	return fmt.Sprintf("con-%x", h[:8])
}

func (c Contact) render() string {
	return strings.Join([]string{c.Name, c.Email, c.Phone, c.Role}, " | ")
}

func (t *tx) deleteContact(e ContactDeleted) error {
	if list, ok := t.s.parked[e.AccountID]; ok {
		if i, found := slices.BinarySearchFunc(list, e.ContactID, func(p parkedContact, id string) int { return strings.Compare(p.ID, id) }); found {
			list = slices.Delete(list, i, i+1)
			if len(list) == 0 {
				delete(t.s.parked, e.AccountID)
			} else {
				t.s.parked[e.AccountID] = list
			}
			t.parked[e.AccountID] = true
		}
	}
	g, ok := t.s.xref.Golden(xref.Ref{System: string(survivorship.CRM), ID: e.AccountID})
	if !ok {
		return nil
	}
	if b, away := t.away(g); away {
		t.out.Forward = b
		return nil
	}
	rec := t.s.records[t.s.xref.Resolve(g)]
	if i, found := slices.BinarySearchFunc(rec.Contacts, e.ContactID, func(x Contact, id string) int { return strings.Compare(x.ID, id) }); found {
		src := survivorship.Lineage{System: survivorship.CRM, RecordID: e.ContactID, OccurredAt: t.at, EventID: e.EventID}
		t.audit(rec, "contacts/"+e.ContactID, rec.Contacts[i].render(), "", src, "source_deleted", true)
		t.gcs[rec.Contacts[i].Golden] = rec.ID
		rec.Contacts = slices.Delete(rec.Contacts, i, i+1)
		t.touch(rec)
	}
	return nil
}

// ---- steward decisions and erase -----------------------------------------

func (t *tx) live(id, field string) (*Record, error) {
	r, ok := t.s.records[t.s.xref.Resolve(id)]
	if !ok || id == "" {
		return nil, errs.Poison(errs.ReasonUnknownGoldenID, fmt.Errorf("%s %q: %w", field, id, ErrUnknownGolden))
	}
	return r, nil
}

// merge folds Merged into Survivor. The service routes a merge decision to
// the block of Merged: if Survivor lives in another block, Merged is handed
// over (handover) and the merge completes there (absorb).
func (t *tx) merge(e StewardMerge) error {
	if b, away := t.away(e.Merged); away {
		t.out.Forward = b
		return nil
	}
	gone, err := t.live(e.Merged, "merged")
	if err != nil {
		return err
	}
	if b, away := t.away(e.Survivor); away {
		t.handover(gone, e.Survivor, b)
		return nil
	}
	surv, err := t.live(e.Survivor, "survivor")
	if err != nil {
		return err
	}
	if surv == gone {
		return nil // already one record: idempotent (no outcome again)
	}
	s := t.s
	before := s.features(surv)
	// Attributes: every value of the merged record competes by ownership.
	var changed []Field
	for _, f := range slices.Sorted(maps.Keys(gone.Attrs)) {
		v := gone.Attrs[f]
		if t.propose(surv, f, v.Value, v.Lineage, survivorship.RuleMerge+"/") {
			changed = append(changed, f)
		}
	}
	surv.Members = append(surv.Members, gone.Members...)
	sortMembers(surv.Members)
	for _, c := range gone.Contacts {
		t.putContact(surv, c)
	}
	for _, r := range s.xref.Merge(surv.ID, gone.ID) {
		t.xrefs[r] = true
	}
	surv.NotDuplicates = s.xref.NotDuplicates(surv.ID)
	surv.ERPRequested = surv.ERPRequested || gone.ERPRequested
	surv.Erased = surv.Erased || gone.Erased
	surv.Proposed = slices.DeleteFunc(surv.Proposed, func(g string) bool { return g == gone.ID })
	for _, g := range surv.NotDuplicates {
		if o, ok := s.records[g]; ok {
			o.NotDuplicates = s.xref.NotDuplicates(g)
			t.touch(o)
		}
	}
	s.index.Remove(idOf(gone.ID))
	*gone = Record{ID: gone.ID, MergedInto: surv.ID, OwnershipVersion: gone.OwnershipVersion, UpdatedAt: t.at}
	t.touch(gone)
	if after := s.features(surv); after != before {
		s.index.Upsert(idOf(surv.ID), after)
	}
	t.touch(surv)
	t.commands(surv, "", changed)
	t.rule(e.Ruling, surv, "RESOLVED", fmt.Sprintf("%s merged into %s by %s", gone.ID, surv.ID, e.Actor))
	return nil
}

// handover sends golden record gone to the block of survivor and keeps a
// marker: a redirect to survivor plus the member references, so that the
// events of its source records, still routed here, are forwarded.
func (t *tx) handover(gone *Record, survivor, block string) {
	s := t.s
	t.out.Handover = &Handover{Block: block, Survivor: survivor, Record: mustJSON(gone)}
	s.index.Remove(idOf(gone.ID))
	s.xref.Redirect(gone.ID, survivor)
	members := make([]Member, len(gone.Members))
	for i, m := range gone.Members {
		members[i] = Member{System: m.System, RecordID: m.RecordID, Active: m.Active, LinkedAt: m.LinkedAt, LinkedBy: m.LinkedBy}
	}
	*gone = Record{ID: gone.ID, MergedInto: survivor, Members: members, OwnershipVersion: gone.OwnershipVersion, UpdatedAt: t.at, Version: gone.Version}
	t.keep[gone.ID] = true
}

// absorb adopts a golden record handed over by another block and merges it
// into the survivor. A survivor unknown here keeps the record alive here
// (it is never lost); a survivor handed over meanwhile gets it forwarded.
func (t *tx) absorb(e Absorb) error {
	if b, away := t.away(e.Survivor); away {
		t.out.Forward = b
		return nil
	}
	var r Record
	if err := json.Unmarshal(e.Record, &r); err != nil || r.ID == "" || r.MergedInto != "" {
		return errs.Poisonf(errs.ReasonValidation, "absorb: not a live golden record (%v)", err)
	}
	if _, ok := t.s.records[r.ID]; ok {
		return errs.Poisonf(errs.ReasonValidation, "absorb: golden record %s is already held here", r.ID)
	}
	if err := t.s.Load(keyRecord+r.ID, e.Record); err != nil {
		return errs.Poison(errs.ReasonValidation, err)
	}
	if _, err := t.live(e.Survivor, "survivor"); err != nil {
		t.touch(t.s.records[r.ID])
		return nil
	}
	return t.merge(e.StewardMerge)
}

// notDuplicate marks two golden records as different parties. When one
// lives in another block, the one held here is marked and the decision
// forwarded (once) to the other's block.
func (t *tx) notDuplicate(e StewardNotDuplicate) error {
	ba, awayA := t.away(e.A)
	bb, awayB := t.away(e.B)
	switch {
	case awayA && awayB:
		t.out.Forward = ba
		return nil
	case awayA || awayB:
		here, other, block := e.A, e.B, bb
		if awayA {
			here, other, block = e.B, e.A, ba
		}
		r, err := t.live(here, "a")
		if err != nil {
			return err
		}
		t.s.xref.MarkNotDuplicate(r.ID, t.s.xref.Resolve(other))
		r.NotDuplicates = t.s.xref.NotDuplicates(r.ID)
		t.touch(r)
		if !e.Forwarded {
			t.out.Forward, t.out.Partial = block, true
		} else {
			t.rule(e.Ruling, r, "RESOLVED", fmt.Sprintf("%s and %s marked not duplicates by %s", e.A, e.B, e.Actor))
		}
		return nil
	}
	a, err := t.live(e.A, "a")
	if err != nil {
		return err
	}
	b, err := t.live(e.B, "b")
	if err != nil {
		return err
	}
	if a == b {
		return errs.Poisonf(errs.ReasonValidation, "not-duplicate decision names one golden record twice (%s, %s)", e.A, e.B)
	}
	if t.s.xref.IsNotDuplicate(a.ID, b.ID) {
		return nil // decided before: idempotent (no outcome again)
	}
	t.s.xref.MarkNotDuplicate(a.ID, b.ID)
	for _, r := range []*Record{a, b} {
		r.NotDuplicates = t.s.xref.NotDuplicates(r.ID)
		t.touch(r)
	}
	t.rule(e.Ruling, a, "RESOLVED", fmt.Sprintf("%s and %s marked not duplicates by %s", a.ID, b.ID, e.Actor))
	return nil
}

func (t *tx) erase(e EraseRequested) error {
	id := e.GoldenID
	if id == "" {
		g, ok := t.s.xref.Golden(e.Ref)
		if !ok {
			return errs.Poison(errs.ReasonUnknownGoldenID, fmt.Errorf("erase: source record %s/%s: %w", e.Ref.System, e.Ref.ID, ErrUnknownGolden))
		}
		id = g
	}
	if b, away := t.away(id); away {
		t.out.Forward = b
		return nil
	}
	rec, err := t.live(id, "golden_id")
	if err != nil {
		return err
	}
	if rec.Erased {
		return nil
	}
	src := survivorship.Lineage{System: "steward", RecordID: rec.ID, OccurredAt: t.at, EventID: e.EventID}
	rec.Erased, rec.ErasedAt = true, t.at
	before := t.s.features(rec)
	for _, f := range t.s.cfg.Ownership.PII {
		if _, ok := rec.Attrs[f]; ok {
			delete(rec.Attrs, f)
			t.audit(rec, string(f), "[erased]", "", src, survivorship.RuleEraseApply, true)
		}
	}
	for _, c := range rec.Contacts {
		t.audit(rec, "contacts/"+c.ID, "[erased]", "", src, survivorship.RuleEraseApply, true)
		t.gcs[c.Golden] = rec.ID
	}
	rec.Contacts = nil
	if after := t.s.features(rec); after != before {
		t.s.index.Upsert(idOf(rec.ID), after)
	}
	t.touch(rec)
	return nil
}

// ---- helpers -------------------------------------------------------------

// away reports whether golden id g (after redirects) lives in another
// match block than the event's: handed over from here, or never held here.
// Without a block (Apply) nothing is away.
func (t *tx) away(g string) (string, bool) {
	if t.block == "" || g == "" {
		return "", false
	}
	g = t.s.xref.Resolve(g)
	if _, ok := t.s.records[g]; ok {
		return "", false
	}
	b, ok := BlockOfID(g)
	if !ok || b == t.block {
		return "", false
	}
	return b, true
}

func (t *tx) touch(r *Record) {
	r.UpdatedAt = max(r.UpdatedAt, t.at)
	t.dirty[r.ID] = true
}

func (r *Record) member(ref xref.Ref) *Member {
	for i := range r.Members {
		if string(r.Members[i].System) == ref.System && r.Members[i].RecordID == ref.ID {
			return &r.Members[i]
		}
	}
	return nil
}

func (r *Record) clone() Record {
	c := *r
	c.Attrs = make(map[Field]survivorship.Value, len(r.Attrs))
	for k, v := range r.Attrs {
		c.Attrs[k] = v
	}
	c.Members = slices.Clone(r.Members)
	for i := range c.Members {
		if m := c.Members[i].Copies; m != nil {
			c.Members[i].Copies = make(map[Field]string, len(m))
			for k, v := range m {
				c.Members[i].Copies[k] = v
			}
		}
	}
	c.Contacts = slices.Clone(r.Contacts)
	c.NotDuplicates = slices.Clone(r.NotDuplicates)
	c.Proposed = slices.Clone(r.Proposed)
	c.Settled = slices.Clone(r.Settled)
	return c
}

// features are the match features of a golden record: its surviving
// identity attributes.
func (s *State) features(r *Record) match.Features {
	a := r.Attrs
	return match.FromGolden(match.Golden{
		Name: a[survivorship.Name].Value, LegalName: a[survivorship.LegalName].Value,
		Country: a[survivorship.Country].Value, Domain: a[survivorship.Website].Value,
		TaxID: a[survivorship.TaxID].Value, Phone: a[survivorship.Phone].Value, Postal: a[survivorship.PostalCode].Value,
	})
}

func sortMembers(m []Member) {
	slices.SortFunc(m, func(a, b Member) int {
		if c := strings.Compare(string(a.System), string(b.System)); c != 0 {
			return c
		}
		return strings.Compare(a.RecordID, b.RecordID)
	})
}

func newer(a, b survivorship.Lineage) bool {
	if a.OccurredAt != b.OccurredAt {
		return a.OccurredAt > b.OccurredAt
	}
	return a.EventID > b.EventID
}

// newID derives a golden id from the first source record: "cus-" and 16 hex
// digits of SHA-256(system/id), re-hashed with a counter in the (1 in 2^64,
// or 2^48 with a block) case of a collision. A match block (BlockOf) takes
// the first 4 hex digits (its two ASCII letters), so BlockOfID recovers it.
func newID(ref xref.Ref, block string, taken func(string) bool) string {
	for n := 0; ; n++ {
		h := sha256.Sum256([]byte(ref.System + "\x00" + ref.ID + "\x00" + strconv.Itoa(n)))
		v := binary.BigEndian.Uint64(h[:8])
		if len(block) == 2 {
			v = uint64(block[0])<<56 | uint64(block[1])<<48 | v&(1<<48-1)
		}
		id := strID(match.ID(v))
		if !taken(id) {
			return id
		}
	}
}

func strID(id match.ID) string { return fmt.Sprintf("cus-%016x", uint64(id)) }

func idOf(g string) match.ID {
	v, err := strconv.ParseUint(strings.TrimPrefix(g, "cus-"), 16, 64)
	if err != nil {
		// Not one of ours (should not happen): hash it so it is still stable.
		h := sha256.Sum256([]byte(g))
		return match.ID(binary.BigEndian.Uint64(h[:8]))
	}
	return match.ID(v)
}

// exceptionID is deterministic from the cause and names the category and
// the golden record: Owner.ExceptionID(category, golden id, hash), i.e.
// "csx:<category>:<golden id>:<hash>", so a steward's decision on it can be
// routed to the record's match block and its outcome published under the
// right category (ExceptionOf).
func exceptionID(category, golden, cause string) string {
	h := sha256.Sum256([]byte(category + "\x00" + golden + "\x00" + cause))
	return Owner.ExceptionID(category, golden, hex.EncodeToString(h[:12]))
}

// ExceptionOf reads the category and golden id an exception id of this
// service names (false for an id of another owner or form).
func ExceptionOf(id string) (category, golden string, ok bool) {
	parts, ok := Owner.Parts(id, 3)
	if !ok {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func commandID(kind, target, cause string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + target + "\x00" + cause))
	return fmt.Sprintf("cmd-%x", h[:12])
}
