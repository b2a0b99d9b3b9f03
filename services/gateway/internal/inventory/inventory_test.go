package inventory

import (
	"errors"
	"math"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		l       Level
		qty     int64
		atp     int64
		ok      bool
		wantErr error
	}{
		{"plenty", Level{OnHand: 100, Allocated: 30}, 70, 70, true, nil},
		{"one short", Level{OnHand: 100, Allocated: 30}, 71, 70, false, nil},
		{"on order is not promised", Level{OnHand: 10, Allocated: 10, OnOrder: 500}, 1, 0, false, nil},
		{"over-allocated", Level{OnHand: 10, Allocated: 15}, 1, 0, false, nil},
		{"negative on hand", Level{OnHand: -5}, 1, 0, false, nil},
		{"overflowing difference", Level{OnHand: math.MaxInt64, Allocated: -1}, 1, 0, false, nil},
		{"zero quantity", Level{OnHand: 1}, 0, 0, false, ErrInvalidQuantity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Check(tt.l, tt.qty)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if a.AvailableToPromise != tt.atp || a.Available != tt.ok {
				t.Errorf("atp %d available %v; want %d %v", a.AvailableToPromise, a.Available, tt.atp, tt.ok)
			}
		})
	}
}
