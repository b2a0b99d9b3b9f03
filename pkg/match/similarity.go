package match

import "strings"

// JaroWinkler returns the Jaro-Winkler similarity of a and b in [0, 1]
// (1 = equal), with the standard prefix scale 0.1 over at most 4 bytes. It
// works on bytes: callers pass folded (ASCII) text.
func JaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	la, lb := len(a), len(b)
	if la == 0 || lb == 0 {
		return 0
	}
	window := max(la, lb)/2 - 1
	if window < 0 {
		window = 0
	}
	var ma, mb [64]bool
	var bigA, bigB []bool
	fa, fb := ma[:], mb[:]
	if la > 64 {
		bigA = make([]bool, la)
		fa = bigA
	}
	if lb > 64 {
		bigB = make([]bool, lb)
		fb = bigB
	}
	matches := 0
	for i := 0; i < la; i++ {
		lo, hi := max(0, i-window), min(lb-1, i+window)
		for j := lo; j <= hi; j++ {
			if !fb[j] && a[i] == b[j] {
				fa[i], fb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	trans, k := 0, 0
	for i := 0; i < la; i++ {
		if !fa[i] {
			continue
		}
		for !fb[k] {
			k++
		}
		if a[i] != b[k] {
			trans++
		}
		k++
	}
	m := float64(matches)
	jaro := (m/float64(la) + m/float64(lb) + (m-float64(trans)/2)/m) / 3
	prefix := 0
	for prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// genericWords carry little identity: "Acme Holdings" and "Acme" are likely
// the same party, "Acme Logistics" and "Acme" likely not.
var genericWords = map[string]bool{
	"holdings": true, "group": true, "international": true, "global": true, "worldwide": true,
	"enterprises": true, "industries": true, "company": true, "corporation": true, "and": true,
	"of": true, "the": true, "partners": true, "associates": true, "usa": true, "america": true,
	"europe": true, "trading": true, "ventures": true, "brands": true,
}

// tokenWeight is the weight of a word in the token overlap.
func tokenWeight(t string) float64 {
	if genericWords[t] {
		return 0.3
	}
	return 1
}

// TokenOverlap is a weighted, typo-tolerant Jaccard similarity of two word
// lists: a word of a matches the most similar unused word of b when their
// similarity is at least 0.85 (Jaro-Winkler; a word of 3+ letters that is a
// prefix of the other, an abbreviation such as "gen" for "general", counts
// 0.9) and contributes that similarity. Generic words (holdings, group,
// international …) weigh less.
func TokenOverlap(a, b []string) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	var used [16]bool
	var inter, total float64
	for _, t := range a {
		total += tokenWeight(t)
	}
	for _, t := range b {
		total += tokenWeight(t)
	}
	for _, ta := range a {
		best, bj := 0.0, -1
		for j, tb := range b {
			if j < len(used) && used[j] {
				continue
			}
			s := wordSim(ta, tb)
			if s > best {
				best, bj = s, j
			}
		}
		if bj >= 0 && best >= 0.85 {
			if bj < len(used) {
				used[bj] = true
			}
			w := min(tokenWeight(ta), tokenWeight(b[bj]))
			inter += w * best
		}
	}
	union := total - inter
	if union <= 0 {
		return 1
	}
	return inter / union
}

func wordSim(a, b string) float64 {
	if a == b {
		return 1
	}
	s := JaroWinkler(a, b)
	if len(a) >= 3 && len(b) >= 3 && (strings.HasPrefix(a, b) || strings.HasPrefix(b, a)) {
		s = max(s, 0.9)
	}
	return s
}
