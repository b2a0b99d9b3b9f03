package normalize

import (
	"strings"
)

// Domain canonicalises a web address or bare domain to its registrable host
// name: scheme, user info, "www." (and "www2." …), port, path, query and
// fragment are removed and the result is lower case without a trailing dot.
// "HTTPS://www.Example.COM:443/about?x=1" → "example.com". Empty input gives
// "" and no error.
func Domain(raw string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return "", nil
	}
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	} else {
		s = strings.TrimPrefix(s, "//")
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".")
	if strings.HasPrefix(s, "www") {
		if i := strings.IndexByte(s, '.'); i > 0 && allDigits(s[3:i]) && strings.Count(s, ".") >= 2 {
			s = s[i+1:]
		}
	}
	if err := checkHost(s); err != "" {
		return "", invalid("domain", raw, "%s", err)
	}
	return s, nil
}

func checkHost(s string) string {
	if s == "" {
		return "no host name"
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "host name needs a top-level domain"
	}
	for _, l := range labels {
		if l == "" {
			return "empty label"
		}
		if len(l) > 63 {
			return "label longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "label starts or ends with '-'"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "invalid character " + quoteByte(c)
			}
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 || allDigits(tld) {
		return "invalid top-level domain"
	}
	return ""
}

func quoteByte(c byte) string { return "'" + string(rune(c)) + "'" }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// freeMail are mailbox providers whose domain says nothing about the company.
var freeMail = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "yahoo.com": true, "hotmail.com": true, "outlook.com": true,
	"live.com": true, "msn.com": true, "aol.com": true, "icloud.com": true, "me.com": true, "gmx.de": true,
	"gmx.net": true, "web.de": true, "t-online.de": true, "yahoo.co.uk": true, "orange.fr": true,
	"free.fr": true, "laposte.net": true, "libero.it": true, "mail.ru": true, "yandex.ru": true,
	"qq.com": true, "163.com": true, "proton.me": true, "protonmail.com": true, "zoho.com": true,
}

// IsFreeMail reports whether a canonical domain belongs to a public mailbox
// provider (gmail.com, gmx.de …); such domains are no evidence of identity.
func IsFreeMail(domain string) bool { return freeMail[domain] }

// Email validates an e-mail address and returns it lower-cased and trimmed.
// Empty input gives "" and no error.
func Email(raw string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return "", nil
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", invalid("email", raw, "must be local-part@domain")
	}
	local, host := s[:at], s[at+1:]
	if strings.ContainsAny(local, " \t\"(),:;<>@[\\]") {
		return "", invalid("email", raw, "local part contains a forbidden character")
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", invalid("email", raw, "local part has a misplaced '.'")
	}
	if err := checkHost(host); err != "" {
		return "", invalid("email", raw, "domain: %s", err)
	}
	return s, nil
}
