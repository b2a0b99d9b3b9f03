// Command gateway runs the pricing, credit and availability gateway; see package gateway.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/gateway/gateway"
)

func main() {
	var cfg gateway.Config
	os.Exit(lifecycle.Main(gateway.Name, &cfg, func(ctx context.Context, log *slog.Logger) error {
		return gateway.Run(ctx, &cfg, log)
	}))
}
