package normalize

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestName(t *testing.T) {
	tests := []struct {
		raw, key, form string
	}{
		{"Müller GmbH", "mueller", "gmbh"},
		{"MUELLER Gesellschaft mit beschränkter Haftung", "mueller", "gmbh"},
		{"The Acme Corporation", "acme", "corp"},
		{"ACME, Inc.", "acme", "inc"},
		{"Acme Incorporated", "acme", "inc"},
		{"A.C.M.E. Holdings Ltd", "acme holdings", "ltd"},
		{"Smith & Jones LLC", "smith and jones", "llc"},
		{"Smith + Jones L.L.C.", "smith and jones", "llc"},
		{"Société Générale S.A.", "societe generale", "sa"},
		{"Carrefour S.A.S.", "carrefour", "sas"},
		{"Philips B.V.", "philips", "bv"},
		{"Acme GmbH & Co. KG", "acme", "kg"},
		{"Widget Pty Ltd", "widget", "pty"},
		{"Toyota Kabushiki Kaisha", "toyota", "kk"},
		{"Nokia Oyj", "nokia", "oyj"},
		{"Volvo AB (publ)", "volvo", "ab"},
		{"Intl Business Mfg Co.", "international business manufacturing", "co"},
		{"Company AG", "company", "ag"},
		{"Coca-Cola Company", "coca cola", "co"},
		{"Ærø Shipping A/S", "aeroe shipping", "as"},
		{"  Straße  Bau  ", "strasse bau", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := Name(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != tt.key || got.LegalForm != tt.form {
				t.Errorf("Name(%q) = key %q form %q, want %q %q", tt.raw, got.Key, got.LegalForm, tt.key, tt.form)
			}
		})
	}
}

func TestNameMissing(t *testing.T) {
	for _, raw := range []string{"", "   ", "&.-"} {
		_, err := Name(raw)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Name(%q) err = %v, want ErrInvalid", raw, err)
		}
	}
	_, err := Name("")
	if got, want := err.Error(), "name: name is required"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestPhonetic(t *testing.T) {
	for _, s := range []string{"Müller", "Mueller", "Muller", "MÜLLER"} {
		if got := Phonetic(Fold(s)); got != "muler" {
			t.Errorf("Phonetic(Fold(%q)) = %q", s, got)
		}
	}
}

func TestDomain(t *testing.T) {
	ok := map[string]string{
		"HTTPS://www.Example.COM:443/about?x=1": "example.com",
		"example.com.":                          "example.com",
		"www2.acme.co.uk/":                      "acme.co.uk",
		"//cdn.acme.io":                         "cdn.acme.io",
		"info@acme.de":                          "acme.de",
		"www.com":                               "www.com",
		"":                                      "",
	}
	for raw, want := range ok {
		got, err := Domain(raw)
		if err != nil || got != want {
			t.Errorf("Domain(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"localhost", "acme..com", "ac me.com", "-acme.com", "acme.1"} {
		if _, err := Domain(raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("Domain(%q) err = %v, want ErrInvalid", raw, err)
		}
	}
}

func TestEmail(t *testing.T) {
	if got, err := Email(" Jane.Doe@ACME.com "); err != nil || got != "jane.doe@acme.com" {
		t.Errorf("Email = %q, %v", got, err)
	}
	for _, raw := range []string{"jane", "@acme.com", "jane@", "jane@acme", "ja ne@acme.com", "jane..doe@acme.com"} {
		if _, err := Email(raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("Email(%q) err = %v, want ErrInvalid", raw, err)
		}
	}
}

func TestTaxID(t *testing.T) {
	ok := []struct{ raw, country, want string }{
		{"DE 123.456.789", "", "DE123456789"},
		{"123456789", "DE", "DE123456789"},
		{"de-123456789", "AT", "DE123456789"},
		{"ATU12345678", "", "ATU12345678"},
		{"CHE-123.456.789 MWST", "", "CHE123456789"},
		{"123.456.789", "CH", "CHE123456789"},
		{"EL 123456789", "", "GR123456789"},
		{"12-3456789", "US", "US123456789"},
		{"NL123456789B01", "", "NL123456789B01"},
		{"FR 40 303265045", "", "FR40303265045"},
		{"GB 123 4567 89", "", "GB123456789"},
		{"", "DE", ""},
	}
	for _, tt := range ok {
		got, err := TaxID(tt.raw, tt.country)
		if err != nil || got != tt.want {
			t.Errorf("TaxID(%q, %q) = %q, %v; want %q", tt.raw, tt.country, got, err, tt.want)
		}
	}
	bad := []struct{ raw, country, msg string }{
		{"DE12345678", "", `tax_id "DE12345678": DE tax ids are 9 digits`},
		{"123456789", "", `tax_id "123456789": no country prefix and no country on the record`},
		{"12#45", "US", `tax_id "12#45": invalid character '#'`},
		{"AB", "BR", `tax_id "AB": must be 4 to 20 letters or digits with at least 4 digits`},
	}
	for _, tt := range bad {
		_, err := TaxID(tt.raw, tt.country)
		if err == nil || err.Error() != tt.msg {
			t.Errorf("TaxID(%q, %q) err = %v; want %s", tt.raw, tt.country, err, tt.msg)
		}
	}
}

func TestPhone(t *testing.T) {
	ok := []struct{ raw, country, want string }{
		{"030 1234567", "DE", "+49301234567"},
		{"+49 (0)30 1234567", "", "+490301234567"}, // literal digits kept; (0) is not removed
		{"0049 30 1234567", "FR", "+49301234567"},
		{"(415) 555-0100", "US", "+14155550100"},
		{"1-415-555-0100 ext. 12", "US", "+14155550100"},
		{"011 44 20 7946 0000", "US", "+442079460000"},
		{"06 1234 5678", "IT", "+390612345678"},
		{"020 7946 0000", "GB", "+442079460000"},
	}
	for _, tt := range ok {
		got, err := Phone(tt.raw, tt.country)
		if err != nil || got != tt.want {
			t.Errorf("Phone(%q, %q) = %q, %v; want %q", tt.raw, tt.country, got, err, tt.want)
		}
	}
	bad := []struct{ raw, country, msg string }{
		{"555-CALL-NOW", "US", `phone "555-CALL-NOW": invalid character 'c'`},
		{"12345", "DE", `phone "12345": E.164 numbers have 8 to 15 digits, got 7`},
		{"030 1234567", "", `phone "030 1234567": national number without a country`},
		{"030 1234567", "AQ", `phone "030 1234567": national number and no calling code known for AQ; write it with +`},
	}
	for _, tt := range bad {
		_, err := Phone(tt.raw, tt.country)
		if err == nil || err.Error() != tt.msg {
			t.Errorf("Phone(%q, %q) err = %v; want %s", tt.raw, tt.country, err, tt.msg)
		}
	}
}

func TestCountry(t *testing.T) {
	for raw, want := range map[string]string{"de": "DE", " US ": "US", "uk": "GB", "": ""} {
		if got, err := Country(raw); err != nil || got != want {
			t.Errorf("Country(%q) = %q, %v", raw, got, err)
		}
	}
	for _, raw := range []string{"XX", "DEU", "Germany", "U"} {
		_, err := Country(raw)
		if err == nil || err.Error() != `country "`+raw+`": not an ISO 3166-1 alpha-2 country code` {
			t.Errorf("Country(%q) err = %v", raw, err)
		}
	}
}

func TestPostalAddress(t *testing.T) {
	got, err := PostalAddress(Address{Line1: "Hauptstr. 5", City: "München", PostalCode: "80331", Country: "de"})
	if err != nil {
		t.Fatal(err)
	}
	want := NormalAddress{Street: "hauptstrasse 5", City: "muenchen", PostalCode: "80331", Country: "DE"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	got2, _ := PostalAddress(Address{Line1: "Hauptstrasse 5", City: "Munich", PostalCode: "80331", Country: "DE"})
	if d := cmp.Diff(got, got2); d != "" {
		t.Errorf("Munich vs München (-a +b)\n%s", d)
	}
	us, _ := PostalAddress(Address{Line1: "1 N. Main St., Ste 200", City: "Springfield", PostalCode: "62701-1234", Country: "US"})
	if us.Street != "1 north main street suite 200" || us.PostalCode != "62701" {
		t.Errorf("US address = %+v", us)
	}
	if _, err := PostalAddress(Address{Country: "ZZ"}); err == nil || err.Error() != `address.country "ZZ": not an ISO 3166-1 alpha-2 country code` {
		t.Errorf("err = %v", err)
	}
}

func TestMoney(t *testing.T) {
	s, err := Money(1250000, "eur")
	if err != nil || s != "EUR 1250000" {
		t.Fatalf("Money = %q, %v", s, err)
	}
	m, c, err := ParseMoney(s)
	if err != nil || m != 1250000 || c != "EUR" {
		t.Errorf("ParseMoney = %d %q %v", m, c, err)
	}
	if _, err := Money(1, "EURO"); err == nil {
		t.Error("Money accepted EURO")
	}
}

func TestPhoneCountry(t *testing.T) {
	for in, want := range map[string]string{"+49891234567": "DE", "+353112345": "IE", "+14155550100": "", "+74951234567": "", "0891234": "", "": ""} {
		if got := PhoneCountry(in); got != want {
			t.Errorf("PhoneCountry(%q) = %q, want %q", in, got, want)
		}
	}
}
