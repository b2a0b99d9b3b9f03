package produce

import (
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/serde"
)

func TestValidateNumbersLinesAndKeys(t *testing.T) {
	good := `{"metadata":{"event_id":"00000000-0000-4000-8000-000000000001","correlation_id":"c","source_system":"ERP","occurred_at":1},"sku":"S","site":"X","on_hand":1,"allocated":0,"as_of":1}`
	in := good + "\n\n" + strings.Replace(good, `"on_hand":1`, `"on_hand":"1"`, 1) + "\n" + strings.Replace(good, `"site":"X"`, `"site":"Y"`, 1)
	recs, sum, err := Validate(catalog.MustEmbedded().MustTopic("erp.inventory.v1"), strings.NewReader(in), serde.JSONPlain)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 3 || sum.Valid != 2 || len(sum.Invalid) != 1 || sum.Invalid[0].Line != 3 || !strings.Contains(sum.Invalid[0].Error, "field on_hand: want an integer") {
		t.Fatalf("summary %+v", sum)
	}
	if recs[0].Key != "S|X" || recs[0].Line != 1 || recs[1].Key != "S|Y" || recs[1].Line != 4 || recs[0].CorrelationID != "c" {
		t.Fatalf("records %+v", recs)
	}
}
