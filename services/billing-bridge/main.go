// Command billing-bridge runs the billing-bridge service; see package billingbridge.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/billing-bridge/billingbridge"
)

func main() {
	var cfg billingbridge.Config
	os.Exit(lifecycle.Main(billingbridge.Name, &cfg, func(ctx context.Context, log *slog.Logger) error {
		return billingbridge.Run(ctx, &cfg, log)
	}))
}
