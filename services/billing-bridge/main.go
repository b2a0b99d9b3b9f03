// Command billing-bridge runs the billing-bridge service; see package billingbridge.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/billing-bridge/billingbridge"
)

func main() {
	os.Exit(lifecycle.Program(billingbridge.Name, &billingbridge.Config{}, billingbridge.Run))
}
