// Command reconciler runs the reconciler service; see package reconciler.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/reconciler/reconciler"
)

func main() {
	var cfg reconciler.Config
	os.Exit(lifecycle.Main(reconciler.Name, &cfg, func(ctx context.Context, log *slog.Logger) error {
		return reconciler.Run(ctx, &cfg, log)
	}))
}
