package money

import (
	"errors"
	"math"
	"testing"
)

func TestMulDivHalfEven(t *testing.T) {
	tests := []struct {
		name        string
		v, num, den int64
		want        int64
		wantErr     error
	}{
		{"exact", 1000, 9000, 10000, 900, nil},
		{"half down to even", 25, 1, 10, 2, nil},    // 2.5 -> 2
		{"half up to even", 35, 1, 10, 4, nil},      // 3.5 -> 4
		{"above half", 26, 1, 10, 3, nil},           // 2.6 -> 3
		{"below half", 24, 1, 10, 2, nil},           // 2.4 -> 2
		{"negative half even", -25, 1, 10, -2, nil}, // -2.5 -> -2
		{"negative half odd", -35, 1, 10, -4, nil},  // -3.5 -> -4
		{"12.5% of 0.99", 99, 1250, 10000, 12, nil}, // 12.375 -> 12
		{"wide intermediate", math.MaxInt64, 10000, 10000, math.MaxInt64, nil},
		{"min int", math.MinInt64, 1, 1, math.MinInt64, nil},
		{"overflow", math.MaxInt64, 3, 2, 0, ErrOverflow},
		{"zero", 0, 5, 7, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MulDivHalfEven(tt.v, tt.num, tt.den)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("MulDivHalfEven(%d, %d, %d) = %d, want %d", tt.v, tt.num, tt.den, got, tt.want)
			}
		})
	}
	if _, err := MulDivHalfEven(1, -1, 1); err == nil {
		t.Error("negative num accepted")
	}
}

func TestMinorUnitsAndFormat(t *testing.T) {
	tests := []struct {
		a    Amount
		exp  int
		text string
	}{
		{Amount{"USD", 1234}, 2, "12.34 USD"},
		{Amount{"USD", -5}, 2, "-0.05 USD"},
		{Amount{"JPY", 1234}, 0, "1234 JPY"},
		{Amount{"BHD", 1234}, 3, "1.234 BHD"},
		{Amount{"CLF", 12345}, 4, "1.2345 CLF"},
	}
	for _, tt := range tests {
		e, err := MinorUnits(tt.a.Currency)
		if err != nil || e != tt.exp {
			t.Errorf("MinorUnits(%s) = %d, %v; want %d", tt.a.Currency, e, err, tt.exp)
		}
		if got := Format(tt.a); got != tt.text {
			t.Errorf("Format(%v) = %q, want %q", tt.a.Minor, got, tt.text)
		}
	}
	if _, err := MinorUnits("XYZ"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("XYZ: err = %v", err)
	}
	if _, err := MinorUnits("usd"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("lower case accepted: %v", err)
	}
}

func TestCheckedArithmetic(t *testing.T) {
	if _, err := Mul(math.MaxInt64/2+1, 2); !errors.Is(err, ErrOverflow) {
		t.Errorf("Mul overflow: %v", err)
	}
	if v, err := Mul(-3, 7); err != nil || v != -21 {
		t.Errorf("Mul(-3,7) = %d, %v", v, err)
	}
	if _, err := Add(math.MaxInt64, 1); !errors.Is(err, ErrOverflow) {
		t.Errorf("Add overflow: %v", err)
	}
	if _, err := Sub(math.MinInt64, 1); !errors.Is(err, ErrOverflow) {
		t.Errorf("Sub overflow: %v", err)
	}
	if v, err := Sub(10, 25); err != nil || v != -15 {
		t.Errorf("Sub = %d, %v", v, err)
	}
	if err := SameCurrency("USD", Amount{"USD", 1}, Amount{"EUR", 1}); !errors.Is(err, ErrCurrencyMismatch) {
		t.Errorf("SameCurrency: %v", err)
	}
}
