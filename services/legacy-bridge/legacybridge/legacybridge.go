// Package legacybridge is the entry of the legacy-bridge service, the
// legacy ERP adapter of a phased modernization (docs/legacy-bridge.md,
// docs/modernization.md): configuration in, Run out.
//
// It serves the customers and orders flows for an on-premise ERP that
// talks in batch files through a drop folder, behind the same erp.* topics
// as the new path, so the services cannot tell which ERP path is live.
// Which commands it serves follows each flow's routing mode
// (ops.flow-mode.v1, pkg/flowmode).
package legacybridge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/flowmode"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/legacy-bridge/internal/bridge"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = bridge.Name

// Config is the service's configuration.
type Config struct {
	config.Common
	Dir            string
	Poll           time.Duration
	ExportEvery    time.Duration
	ExportMax      int
	FilesPerTick   int
	CommitInterval time.Duration
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	s.String(&c.Dir, "ISTHMUS_LEGACY_DIR", "", "the drop folder shared with the legacy ERP (inbound/, outbound/, processed/, quarantine/ under it); required")
	s.Duration(&c.Poll, "ISTHMUS_LEGACY_POLL", 2*time.Second, "how often inbound/ is read and the outbox looked at", config.Positive)
	s.Duration(&c.ExportEvery, "ISTHMUS_LEGACY_EXPORT_EVERY", 5*time.Second, "longest a command waits before its batch file is written to outbound/", config.Positive)
	s.Int(&c.ExportMax, "ISTHMUS_LEGACY_EXPORT_MAX", 1000, "commands in one batch file at most (a full batch is written at once)", config.AtLeast(1))
	s.Int(&c.FilesPerTick, "ISTHMUS_LEGACY_FILES_PER_TICK", 10, "inbound files decided in one transaction at most", config.AtLeast(1))
	s.Duration(&c.CommitInterval, "ISTHMUS_LEGACY_COMMIT_INTERVAL", 10*time.Millisecond, "how long a transaction collects records while they keep coming", config.Positive)
	s.Check(func() error {
		if c.Dir == "" {
			return errors.New("ISTHMUS_LEGACY_DIR is required: the drop folder shared with the legacy ERP")
		}
		return nil
	})
}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

// Bridge is the service's processor logic with cfg's settings, routing by
// modes.
func Bridge(cfg *Config, modes flowmode.Source, log *slog.Logger) *bridge.Bridge {
	return bridge.New(bridge.Settings{Folder: bridge.Folder{Root: cfg.Dir}, Modes: modes, ExportEvery: cfg.ExportEvery,
		ExportMax: cfg.ExportMax, FilesPerTick: cfg.FilesPerTick, Log: log})
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	folder := bridge.Folder{Root: cfg.Dir}
	if err := folder.Ensure(); err != nil {
		return err
	}
	svc := service.New(&cfg.Common, log)
	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	modes := flowmode.NewWatcher(cfg.Kafka, sd, log)
	svc.Add("flow-modes", modes.Run, func(context.Context) error {
		if !modes.Ready() {
			return errors.New("flow modes not read yet")
		}
		return nil
	})
	b := Bridge(cfg, modes, log)
	opts := append(svc.ProcessorOptions(sd), processor.WithCommitInterval(cfg.CommitInterval))
	p, err := processor.New(b.Processor(cfg.Instance, cfg.Poll), cfg.Kafka, opts...)
	if err != nil {
		return err
	}
	svc.AddProcessor("bridge", p)
	return svc.Run(ctx)
}
