package traffic

import "github.com/isthmus/isthmus/pkg/contracts"

// metadataCorrelation returns the correlation id of the CRM records the
// generator makes.
func metadataCorrelation(v contracts.Value) string {
	switch r := v.(type) {
	case *contracts.Account:
		return r.Metadata.CorrelationID
	case *contracts.Contact:
		return r.Metadata.CorrelationID
	case *contracts.Quote:
		return r.Metadata.CorrelationID
	case *contracts.Deal:
		return r.Metadata.CorrelationID
	}
	return ""
}
