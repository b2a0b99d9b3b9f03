// Command field-service runs the field-service service; see package fieldservice.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/field-service/fieldservice"
)

func main() {
	var cfg fieldservice.Config
	os.Exit(lifecycle.Main(fieldservice.Name, &cfg, func(ctx context.Context, log *slog.Logger) error {
		return fieldservice.Run(ctx, &cfg, log)
	}))
}
