// Package xref is the cross-reference between golden customer ids and the
// ids of the same customer in each source system: look-up by any system's
// id gives the golden id and the other systems' ids. A steward merge
// re-points the merged-away record's references and leaves a redirect; a
// "not a duplicate" decision is remembered per pair.
package xref

import (
	"cmp"
	"slices"
)

// Ref is a record in a source system.
type Ref struct {
	System string `json:"system"`
	ID     string `json:"id"`
}

func compareRef(a, b Ref) int {
	if c := cmp.Compare(a.System, b.System); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Store holds the cross-reference of one match partition. Not safe for
// concurrent use.
type Store struct {
	golden    map[Ref]string
	members   map[string][]Ref // sorted
	redirects map[string]string
	notDup    map[[2]string]struct{}
}

// New returns an empty store.
func New() *Store {
	return &Store{
		golden:    map[Ref]string{},
		members:   map[string][]Ref{},
		redirects: map[string]string{},
		notDup:    map[[2]string]struct{}{},
	}
}

// Link points ref at golden id g and returns the golden id it pointed at
// before ("" if none).
func (s *Store) Link(ref Ref, g string) (prev string) {
	prev = s.golden[ref]
	if prev == g {
		return prev
	}
	if prev != "" {
		s.removeMember(prev, ref)
	}
	s.golden[ref] = g
	m := s.members[g]
	i, _ := slices.BinarySearchFunc(m, ref, compareRef)
	s.members[g] = slices.Insert(m, i, ref)
	return prev
}

// Unlink removes ref (a deleted source record).
func (s *Store) Unlink(ref Ref) {
	g, ok := s.golden[ref]
	if !ok {
		return
	}
	delete(s.golden, ref)
	s.removeMember(g, ref)
}

func (s *Store) removeMember(g string, ref Ref) {
	m := s.members[g]
	if i, ok := slices.BinarySearchFunc(m, ref, compareRef); ok {
		m = slices.Delete(m, i, i+1)
	}
	if len(m) == 0 {
		delete(s.members, g)
		return
	}
	s.members[g] = m
}

// Golden returns the golden id of ref.
func (s *Store) Golden(ref Ref) (string, bool) {
	g, ok := s.golden[ref]
	return g, ok
}

// Lookup returns the golden id of ref and the other records of that golden
// id, sorted by system then id.
func (s *Store) Lookup(ref Ref) (golden string, others []Ref, ok bool) {
	g, ok := s.golden[ref]
	if !ok {
		return "", nil, false
	}
	for _, r := range s.members[g] {
		if r != ref {
			others = append(others, r)
		}
	}
	return g, others, true
}

// Members returns the records of golden id g, sorted.
func (s *Store) Members(g string) []Ref { return slices.Clone(s.members[g]) }

// Merge moves every record of golden id merged to survivor, records the
// redirect merged → survivor (and re-targets older redirects to merged), and
// returns the moved records. Not-duplicate marks of merged carry over.
func (s *Store) Merge(survivor, merged string) []Ref {
	moved := slices.Clone(s.members[merged])
	for _, r := range moved {
		s.Link(r, survivor)
	}
	s.redirects[merged] = survivor
	for from, to := range s.redirects {
		if to == merged {
			s.redirects[from] = survivor
		}
	}
	for p := range s.notDup {
		switch merged {
		case p[0]:
			s.MarkNotDuplicate(survivor, p[1])
		case p[1]:
			s.MarkNotDuplicate(p[0], survivor)
		}
	}
	return moved
}

// Redirect records that golden id from was merged into to (restore).
func (s *Store) Redirect(from, to string) { s.redirects[from] = to }

// Resolve follows redirects from golden id g to the live golden id.
func (s *Store) Resolve(g string) string {
	for range 64 { // redirects are flattened by Merge; the bound guards bad state
		to, ok := s.redirects[g]
		if !ok {
			return g
		}
		g = to
	}
	return g
}

// MarkNotDuplicate remembers that golden ids a and b are different parties.
func (s *Store) MarkNotDuplicate(a, b string) {
	if a == b {
		return
	}
	s.notDup[pairKey(a, b)] = struct{}{}
}

// IsNotDuplicate reports whether a steward said a and b are different.
func (s *Store) IsNotDuplicate(a, b string) bool {
	_, ok := s.notDup[pairKey(a, b)]
	return ok
}

// NotDuplicates returns the golden ids marked different from g, sorted.
func (s *Store) NotDuplicates(g string) []string {
	var out []string
	for p := range s.notDup {
		switch g {
		case p[0]:
			out = append(out, p[1])
		case p[1]:
			out = append(out, p[0])
		}
	}
	slices.Sort(out)
	return out
}

func pairKey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}
