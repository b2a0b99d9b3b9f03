package customersync

import (
	"testing"

	"github.com/isthmus/isthmus/pkg/processor"
)

// A record forwarded by the runtime has the forward topic's position; its
// output ids must not collide with the source topic's record at the same
// partition and offset, and must survive the trip through the match topic.
func TestIDBaseOfForwardedRecord(t *testing.T) {
	direct := origin{topic: "crm.account.v1", partition: 3, offset: 2}
	forwarded := origin{topic: "crm.account.v1", via: processor.ForwardTopic(Name), partition: 3, offset: 2}
	if direct.idBase() != "crm.account.v1/3/2" {
		t.Errorf("direct base %q changed: replays would mint new ids", direct.idBase())
	}
	if forwarded.idBase() == direct.idBase() {
		t.Fatalf("forwarded and direct records at 3/2 share the id base %q", direct.idBase())
	}
	hs := map[string]string{}
	for _, h := range forwarded.headers() {
		hs[h.Key] = string(h.Value)
	}
	if hs[HeaderOriginVia] != processor.ForwardTopic(Name) {
		t.Errorf("headers %v lack %s", hs, HeaderOriginVia)
	}
	for _, h := range direct.headers() {
		if h.Key == HeaderOriginVia {
			t.Errorf("a direct record carries %s", HeaderOriginVia)
		}
	}
}
