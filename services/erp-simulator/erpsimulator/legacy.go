package erpsimulator

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
	"github.com/isthmus/isthmus/services/erp-simulator/internal/legacyerp"
)

// LegacyConfig is the legacy ERP mode: the simulator also plays the
// on-premise ERP at the drop folder of services/legacy-bridge
// (docs/erp-simulator.md, "Legacy ERP mode").
type LegacyConfig struct {
	// Dir is the drop folder root; "" turns the mode off.
	Dir string
	// Batch is how long after a request file appears the ERP answers it.
	Batch erp.Latency
	// Poll is how often it looks at the folder.
	Poll time.Duration
	// BadFilesBps is the share of answer files followed by a bad file.
	BadFilesBps int
	// ExportRestricted and TaxMissing are the legacy ERP's own decision
	// sets; nil: the simulator's, with their run-time changes.
	ExportRestricted, TaxMissing map[string]bool
}

// register declares the mode's settings; latency and bps parse like the
// simulator's other latencies and shares.
func (c *LegacyConfig) register(s *config.Set, latency func(*erp.Latency, string, string, string), bps func(*int, string, int, string)) {
	s.String(&c.Dir, "ISTHMUS_SIM_LEGACY_DIR", "", "legacy ERP mode: the drop folder root the simulated on-premise ERP reads requests from (outbound/) and answers into (inbound/), as services/legacy-bridge's ISTHMUS_LEGACY_DIR (empty: mode off)")
	latency(&c.Batch, "ISTHMUS_SIM_LEGACY_BATCH", "2s-6s", "legacy ERP: from a request file appearing to its answer file, MIN-MAX")
	s.Duration(&c.Poll, "ISTHMUS_SIM_LEGACY_POLL", time.Second, "legacy ERP: how often it looks at the drop folder", config.Positive)
	bps(&c.BadFilesBps, "ISTHMUS_SIM_LEGACY_BAD_FILES_BPS", 0, "legacy ERP: share of answer files followed by a bad file (wrong control total, truncated, duplicate, malformed line, not UTF-8, wrong record count; rotating), basis points")
	own := func(p *map[string]bool, env, usage string) {
		s.Func(env, "", usage, func(v string) error {
			switch v = strings.TrimSpace(v); strings.ToLower(v) {
			case "":
				*p = nil
			case "none":
				*p = map[string]bool{}
			default:
				*p = erp.ParseSet(v)
			}
			return nil
		})
	}
	own(&c.ExportRestricted, "ISTHMUS_SIM_LEGACY_EXPORT_RESTRICTED", "legacy ERP: its own export-controlled ship-to countries (empty: ISTHMUS_SIM_EXPORT_RESTRICTED and its run-time changes; none: no country)")
	own(&c.TaxMissing, "ISTHMUS_SIM_LEGACY_TAX_MISSING", "legacy ERP: its own regions or countries without tax configuration (empty: ISTHMUS_SIM_TAX_MISSING and its run-time changes; none: none)")
}

// addLegacyERP runs the legacy ERP as a part of the service when the mode
// is on. Without sets of its own it decides with the simulator's live
// configuration (live), so an operator's fix applies to both ERP paths.
func addLegacyERP(svc *service.Service, cfg *Config, live *erp.Live, log *slog.Logger) error {
	lc := cfg.Legacy
	if lc.Dir == "" {
		return nil
	}
	rules := cfg.Rules()
	if lc.ExportRestricted != nil || lc.TaxMissing != nil {
		if lc.ExportRestricted != nil {
			rules.ExportRestricted = lc.ExportRestricted
		}
		if lc.TaxMissing != nil {
			rules.TaxMissing = lc.TaxMissing
		}
		live = nil // its own configuration: no run-time changes
	}
	e, err := legacyerp.Open(legacyerp.Settings{Dir: lc.Dir, Rules: rules, Live: live, Batch: lc.Batch, Ship: cfg.ShipDelay, Invoice: cfg.InvoiceDelay,
		Poll: lc.Poll, BadFileBps: lc.BadFilesBps, Log: log.With("component", "legacy-erp")})
	if err != nil {
		return err
	}
	svc.Add("legacy-erp", func(ctx context.Context) error { return e.Run(ctx) }, nil)
	return nil
}
