package normalize

import (
	"strings"
	"unicode"
)

// fold maps letters with diacritics to ASCII. German umlauts and Nordic
// ligatures use their conventional transliteration (ü → ue, ø → oe, å → aa) so
// that "Müller" and "Mueller" fold to the same text; Phonetic then collapses
// "ue" and "u" for fuzzy comparison.
var fold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'ä': "ae", 'å': "aa", 'æ': "ae",
	'ç': "c", 'ć': "c", 'č': "c", 'ĉ': "c", 'ċ': "c",
	'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ĕ': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ĝ': "g", 'ğ': "g", 'ġ': "g", 'ģ': "g",
	'ĥ': "h", 'ħ': "h",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ĩ': "i", 'ī': "i", 'į': "i", 'ı': "i",
	'ĵ': "j", 'ķ': "k",
	'ĺ': "l", 'ļ': "l", 'ľ': "l", 'ŀ': "l", 'ł': "l",
	'ñ': "n", 'ń': "n", 'ņ': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ō': "o", 'ŏ': "o", 'ő': "o",
	'ö': "oe", 'ø': "oe", 'œ': "oe",
	'ŕ': "r", 'ř': "r",
	'ś': "s", 'ŝ': "s", 'ş': "s", 'š': "s", 'ș': "s", 'ß': "ss",
	'ţ': "t", 'ť': "t", 'ț': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ũ': "u", 'ū': "u", 'ŭ': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ü': "ue",
	'ŵ': "w", 'ý': "y", 'ÿ': "y", 'ŷ': "y",
	'ź': "z", 'ż': "z", 'ž': "z",
	// Typographic punctuation that should behave like its ASCII form.
	'’': "'", '‘': "'", '‚': ",", '“': "\"", '”': "\"", '–': "-", '—': "-", '‐': "-",
	'＆': "&", '\u00a0': " ",
}

// Fold lower-cases s and replaces letters with diacritics by ASCII text.
// Letters of other scripts are kept (lower-cased).
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		r = unicode.ToLower(r)
		if f, ok := fold[r]; ok {
			b.WriteString(f)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Phonetic reduces folded text to a spelling-insensitive skeleton: umlaut
// transliterations collapse (ue → u, oe → o, ae → a, aa → a), "ph" → "f",
// "ck" → "k", and doubled letters become single. It is symmetric, so two
// spellings of one word compare equal: Müller, Mueller and Muller all give
// "muler".
func Phonetic(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i+1 < len(s) {
			n := s[i+1]
			switch {
			case (c == 'u' || c == 'o' || c == 'a') && n == 'e':
				b = append(b, c)
				i++
				continue
			case c == 'a' && n == 'a':
				b = append(b, c)
				i++
				continue
			case c == 'p' && n == 'h':
				b = append(b, 'f')
				i++
				continue
			case c == 'c' && n == 'k':
				b = append(b, 'k')
				i++
				continue
			}
		}
		if len(b) > 0 && b[len(b)-1] == c && c != ' ' {
			continue
		}
		b = append(b, c)
	}
	return string(b)
}
