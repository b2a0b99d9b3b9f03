//go:build integration

package recon

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

// The verdicts of TestParityVerdict on the real broker and registry.
func TestRealParityVerdict(t *testing.T) {
	brokers := testinfra.Brokers(t)
	prefix := fmt.Sprintf("it.parity%d.", time.Now().UnixNano())
	testinfra.CreateTopics(t, brokers, 6, prefix+contracts.TopicReconParityV1)
	t.Cleanup(func() { testinfra.DeleteTopics(t, []kgo.Opt{kgo.SeedBrokers(brokers...)}, prefix) })
	checkParityVerdict(t, connectParity(t, brokers, testinfra.RegistryURL(t), prefix))
}
