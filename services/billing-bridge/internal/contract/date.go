package contract

import (
	"fmt"
	"time"
)

// Date is a calendar date (no time of day, no zone) counted in days since
// 1970-01-01. The zero Date means "not set": no contract in this system
// starts on the Unix epoch. Dates serialise as "2006-01-02".
type Date int32

// NewDate returns the Date for a calendar day; out-of-range days normalise
// the way time.Date does (January 32 is February 1).
func NewDate(year int, month time.Month, day int) Date {
	if month >= time.January && month <= time.December && day >= 1 && day <= 28 {
		return fromCivil(year, int(month), day)
	}
	return Date(time.Date(year, month, day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// DateOf returns the calendar day of t in UTC.
func DateOf(t time.Time) Date {
	t = t.UTC()
	return NewDate(t.Year(), t.Month(), t.Day())
}

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		y, ok1 := digits(s[0:4])
		m, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		if ok1 && ok2 && ok3 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, time.Month(m)) {
			return fromCivil(y, m, d), nil
		}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("parse date %q: %w", s, err)
	}
	return DateOf(t), nil
}

// Time returns midnight UTC of d.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == 0 }

// String formats d as "2006-01-02".
func (d Date) String() string {
	var b [10]byte
	return string(d.appendTo(b[:0]))
}

func (d Date) appendTo(b []byte) []byte {
	y, m, day := d.civil()
	if y < 0 || y > 9999 {
		return append(b, d.Time().Format(time.DateOnly)...)
	}
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+day/10), byte('0'+day%10))
}

// AddDays returns d + n days.
func (d Date) AddDays(n int) Date { return d + Date(n) }

// AddMonths returns the same day of the month n months later, clamped to the
// last day of a shorter month (January 31 + 1 month = February 28/29). It is
// always computed from d itself, so repeated periods anchored on one start
// date never drift (January 31 + 2 months = March 31).
func (d Date) AddMonths(n int) Date {
	y, m, day := d.civil()
	total := m - 1 + n
	ty := y + floorDiv(total, 12)
	tm := time.Month(total - floorDiv(total, 12)*12 + 1)
	if last := daysIn(ty, tm); day > last {
		day = last
	}
	return fromCivil(ty, int(tm), day)
}

// Month is the calendar month containing d.
func (d Date) Month() Month {
	y, m, _ := d.civil()
	return Month(y*12 + m - 1)
}

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return d.appendTo(make([]byte, 0, 10)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Month is a calendar month, counted as year*12 + (month-1). It serialises as
// "2006-01".
type Month int32

// NewMonth returns the Month of a year and month.
func NewMonth(year int, month time.Month) Month { return Month(year*12 + int(month) - 1) }

// First is the first day of the month.
func (m Month) First() Date {
	return NewDate(floorDiv(int(m), 12), time.Month(int(m)-floorDiv(int(m), 12)*12+1), 1)
}

// Next is the following month.
func (m Month) Next() Month { return m + 1 }

// End is the first day of the next month (months are half-open [First, End)).
func (m Month) End() Date { return m.Next().First() }

// Last is the last day of the month (the posting date of month-end entries).
func (m Month) Last() Date { return m.End() - 1 }

// String formats m as "2006-01".
func (m Month) String() string { return m.First().Time().Format("2006-01") }

// MarshalText implements encoding.TextMarshaler.
func (m Month) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Month) UnmarshalText(b []byte) error {
	t, err := time.Parse("2006-01", string(b))
	if err != nil {
		return fmt.Errorf("parse month %q: %w", b, err)
	}
	*m = NewMonth(t.Year(), t.Month())
	return nil
}

func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// civil and fromCivil convert between days since 1970-01-01 and the
// proleptic Gregorian calendar (H. Hinnant's days_from_civil algorithms).
func (d Date) civil() (y, m, day int) {
	z := int(d) + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, day
}

func fromCivil(y, m, d int) Date {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return Date(era*146097 + doe - 719468)
}

func digits(s string) (int, bool) {
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
