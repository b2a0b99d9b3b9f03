// Package billingbridge is the entry of the billing-bridge service: configuration in, Run out.
// Its main.go only parses configuration and calls Run; `isthmus dev`
// composes the same entry with the other services in one process.
package billingbridge

import (
	"context"
	"log/slog"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/service"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = "billing-bridge"

// Config is the service's configuration.
type Config struct {
	config.Common
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) { c.Common.Register(s, Name) }

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	svc := service.New(&cfg.Common, log)
	return svc.Run(ctx)
}
