// Command quote-to-order runs the quote-to-order service; see package quotetoorder.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/quote-to-order/quotetoorder"
)

func main() {
	var cfg quotetoorder.Config
	os.Exit(lifecycle.Main(quotetoorder.Name, &cfg, func(ctx context.Context, log *slog.Logger) error {
		return quotetoorder.Run(ctx, &cfg, log)
	}))
}
