// Command erp-simulator runs the erp-simulator service; see package erpsimulator.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/erp-simulator/erpsimulator"
)

func main() {
	var cfg erpsimulator.Config
	os.Exit(lifecycle.Main(erpsimulator.Name, &cfg, func(ctx context.Context, log *slog.Logger) error {
		return erpsimulator.Run(ctx, &cfg, log)
	}))
}
