package match

import (
	"slices"
	"strings"

	"github.com/isthmus/isthmus/pkg/normalize"
)

// ID identifies a golden record inside the index.
type ID uint64

// Index holds the Features of every golden record of one match partition
// and the blocking maps that find candidates. It is compact enough to hold
// millions of records: a record is one packed string plus its id and
// country; a blocking key is a 64-bit hash mapped to one id (most blocks) or
// to a small sorted slice of ids. Hash collisions only add candidates, which
// scoring then rejects. An Index is not safe for concurrent use: one match
// partition has one writer.
type Index struct {
	cfg   Config
	slots []slot
	free  []uint32
	byID  map[ID]uint32
	one   map[uint64]uint32   // block with a single record
	many  map[uint64][]uint32 // block with several records, sorted by slot
}

type slot struct {
	id      ID
	data    string // packed features, see pack
	country [2]byte
	live    bool
}

// NewIndex returns an empty index.
func NewIndex(cfg Config) *Index {
	return &Index{
		cfg:  cfg,
		byID: make(map[ID]uint32),
		one:  make(map[uint64]uint32),
		many: make(map[uint64][]uint32),
	}
}

// Grow pre-sizes the index for n golden records (an optimisation for
// restore).
func (ix *Index) Grow(n int) {
	if n <= len(ix.slots) {
		return
	}
	ix.slots = slices.Grow(ix.slots, n-len(ix.slots))
}

// Len is the number of golden records in the index.
func (ix *Index) Len() int { return len(ix.byID) }

// Upsert stores (or replaces) the features of golden record id.
func (ix *Index) Upsert(id ID, f Features) {
	if s, ok := ix.byID[id]; ok {
		old := ix.slots[s].features()
		if old == f {
			return
		}
		for _, k := range blockKeys(&old) {
			ix.unblock(k, s)
		}
		ix.slots[s] = newSlot(id, &f)
		for _, k := range blockKeys(&f) {
			ix.block(k, s)
		}
		return
	}
	var s uint32
	if n := len(ix.free); n > 0 {
		s = ix.free[n-1]
		ix.free = ix.free[:n-1]
		ix.slots[s] = newSlot(id, &f)
	} else {
		s = uint32(len(ix.slots))
		ix.slots = append(ix.slots, newSlot(id, &f))
	}
	ix.byID[id] = s
	for _, k := range blockKeys(&f) {
		ix.block(k, s)
	}
}

// Remove drops golden record id (merged away by a steward).
func (ix *Index) Remove(id ID) {
	s, ok := ix.byID[id]
	if !ok {
		return
	}
	f := ix.slots[s].features()
	for _, k := range blockKeys(&f) {
		ix.unblock(k, s)
	}
	ix.slots[s] = slot{}
	ix.free = append(ix.free, s)
	delete(ix.byID, id)
}

func (ix *Index) block(k uint64, s uint32) {
	if m, ok := ix.many[k]; ok {
		i, found := slices.BinarySearch(m, s)
		if !found {
			ix.many[k] = slices.Insert(m, i, s)
		}
		return
	}
	if o, ok := ix.one[k]; ok {
		if o == s {
			return
		}
		delete(ix.one, k)
		ix.many[k] = []uint32{min(o, s), max(o, s)}
		return
	}
	ix.one[k] = s
}

func (ix *Index) unblock(k uint64, s uint32) {
	if o, ok := ix.one[k]; ok {
		if o == s {
			delete(ix.one, k)
		}
		return
	}
	m, ok := ix.many[k]
	if !ok {
		return
	}
	i, found := slices.BinarySearch(m, s)
	if !found {
		return
	}
	m = slices.Delete(m, i, i+1)
	if len(m) == 1 {
		delete(ix.many, k)
		ix.one[k] = m[0]
		return
	}
	ix.many[k] = m
}

// candidates returns the slots sharing a block with f, excluding blocks
// larger than cfg.MaxBlock (too unspecific to be evidence), sorted and
// without duplicates.
func (ix *Index) candidates(f *Features) []uint32 {
	var out []uint32
	for _, k := range blockKeys(f) {
		if o, ok := ix.one[k]; ok {
			out = append(out, o)
			continue
		}
		if m, ok := ix.many[k]; ok && len(m) <= ix.cfg.MaxBlock {
			out = append(out, m...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

const sep = "\x1f"

func newSlot(id ID, f *Features) slot {
	var c [2]byte
	copy(c[:], f.Country)
	return slot{
		id:      id,
		data:    strings.Join([]string{f.Name, f.Legal, f.Domain, f.TaxID, f.Phone, f.Postal}, sep),
		country: c,
		live:    true,
	}
}

func (s *slot) features() Features {
	var p [6]string
	rest := s.data
	for i := range 5 {
		p[i], rest, _ = strings.Cut(rest, sep)
	}
	p[5] = rest
	f := Features{Name: p[0], Legal: p[1], Domain: p[2], TaxID: p[3], Phone: p[4], Postal: p[5]}
	if s.country != [2]byte{} {
		f.Country = string(s.country[:])
	}
	return f
}

// Block key kinds; part of the hash so that equal text of different kinds
// never collides by construction.
const (
	kindTax byte = iota + 1
	kindDomain
	kindPhone
	kindName
	kindWord
	kindSuffix
	kindPrefix
	kindPostal
)

// BlockKeys returns the blocking keys of f (see blockKeys): a store of
// golden records outside the Index files each record under these keys and
// looks a query up by them, skipping keys held by more than
// Config.MaxBlock records, exactly as the Index does.
func BlockKeys(f *Features) []uint64 { return blockKeys(f) }

// blockKeys returns the blocking keys of f. Name keys are scoped by country
// (absent country is its own scope), so with country-partitioned matching a
// record's candidates are always in its own partition.
func blockKeys(f *Features) []uint64 {
	keys := make([]uint64, 0, 10)
	if f.TaxID != "" {
		keys = append(keys, hashKey(kindTax, "", f.TaxID))
	}
	if f.Domain != "" && !normalize.IsFreeMail(f.Domain) {
		keys = append(keys, hashKey(kindDomain, "", f.Domain))
	}
	if f.Phone != "" {
		keys = append(keys, hashKey(kindPhone, "", f.Phone))
	}
	if f.Postal != "" {
		keys = append(keys, hashKey(kindPostal, f.Country, f.Postal))
	}
	for _, n := range f.names() {
		nf := prepare(n)
		keys = append(keys, hashKey(kindName, f.Country, nf.sorted))
		words := 0
		for _, w := range nf.words {
			if len(w) < 3 || genericWords[w] {
				continue
			}
			keys = append(keys, hashKey(kindWord, f.Country, w[:min(4, len(w))]))
			if words++; words == 2 {
				break
			}
		}
		if len(nf.compact) >= 3 {
			keys = append(keys, hashKey(kindPrefix, f.Country, nf.compact[:3]))
		}
		if len(nf.compact) >= 6 {
			keys = append(keys, hashKey(kindSuffix, f.Country, nf.compact[len(nf.compact)-5:]))
		}
	}
	return keys
}

// hashKey is FNV-1a over kind, scope and text.
func hashKey(kind byte, scope, text string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(kind)) * prime
	for i := 0; i < len(scope); i++ {
		h = (h ^ uint64(scope[i])) * prime
	}
	h = (h ^ 0xff) * prime
	for i := 0; i < len(text); i++ {
		h = (h ^ uint64(text[i])) * prime
	}
	return h
}
