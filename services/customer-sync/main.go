// Command customer-sync runs the customer-sync service; see package customersync.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/customer-sync/customersync"
)

func main() {
	var cfg customersync.Config
	os.Exit(lifecycle.Main(customersync.Name, &cfg, func(ctx context.Context, log *slog.Logger) error {
		return customersync.Run(ctx, &cfg, log)
	}))
}
