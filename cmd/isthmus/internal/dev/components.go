package dev

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/isthmus/isthmus/services/billing-bridge/billingbridge"
	"github.com/isthmus/isthmus/services/customer-sync/customersync"
	"github.com/isthmus/isthmus/services/erp-simulator/erpsimulator"
	"github.com/isthmus/isthmus/services/field-service/fieldservice"
	"github.com/isthmus/isthmus/services/gateway/gateway"
	"github.com/isthmus/isthmus/services/legacy-bridge/legacybridge"
	"github.com/isthmus/isthmus/services/quote-to-order/quotetoorder"
	"github.com/isthmus/isthmus/services/reconciler/reconciler"
)

// components builds every service entry with dev's environment overrides.
// The simulator comes last so the services are consuming when traffic starts.
func components(env map[string]string, o Options) ([]component, error) {
	var (
		cs  customersync.Config
		qo  quotetoorder.Config
		bb  billingbridge.Config
		fs  fieldservice.Config
		rc  reconciler.Config
		gw  gateway.Config
		sim erpsimulator.Config
		lb  legacybridge.Config
	)
	list := []component{
		{name: customersync.Name, cfg: &cs, run: func(ctx context.Context, log *slog.Logger) error { return customersync.Run(ctx, &cs, log) }},
		{name: quotetoorder.Name, cfg: &qo, run: func(ctx context.Context, log *slog.Logger) error { return quotetoorder.Run(ctx, &qo, log) }},
		{name: billingbridge.Name, cfg: &bb, run: func(ctx context.Context, log *slog.Logger) error { return billingbridge.Run(ctx, &bb, log) }},
		{name: gateway.Name, cfg: &gw, run: func(ctx context.Context, log *slog.Logger) error { return gateway.Run(ctx, &gw, log) }},
		{name: reconciler.Name, cfg: &rc, run: func(ctx context.Context, log *slog.Logger) error { return reconciler.Run(ctx, &rc, log) }},
		{name: fieldservice.Name, cfg: &fs, run: func(ctx context.Context, log *slog.Logger) error { return fieldservice.Run(ctx, &fs, log) }},
	}
	if o.LegacyDir != "" {
		list = append(list, component{name: legacybridge.Name, cfg: &lb, run: func(ctx context.Context, log *slog.Logger) error { return legacybridge.Run(ctx, &lb, log) }})
	}
	list = append(list, component{name: erpsimulator.Name, cfg: &sim, run: func(ctx context.Context, log *slog.Logger) error { return erpsimulator.Run(ctx, &sim, log) }})
	for i := range list {
		c := &list[i]
		c.admin = adminAddr(o.AdminBase, i)
		e := map[string]string{"ISTHMUS_ADMIN_ADDR": c.admin, "ISTHMUS_INSTANCE_ID": "dev"}
		for k, v := range env {
			e[k] = v
		}
		if c.name == legacybridge.Name {
			e["ISTHMUS_LEGACY_DIR"] = o.LegacyDir
		}
		if c.name == erpsimulator.Name {
			if o.LegacyDir != "" {
				e["ISTHMUS_SIM_LEGACY_DIR"] = o.LegacyDir
			}
			// dev's traffic flags drive the simulator's CRM side.
			e["ISTHMUS_SIM_SCENARIO"] = o.Scenario
			e["ISTHMUS_SIM_RATE"] = strconv.FormatFloat(o.Rate, 'f', -1, 64)
			e["ISTHMUS_SIM_TRAFFIC"] = strconv.FormatBool(!o.NoTraffic)
			// Half of the accounts sales creates are checked with the
			// in-process gateway's CheckDuplicate first.
			if _, ok := lookupEnv("ISTHMUS_SIM_DUPLICATE_CHECK_BPS"); !ok {
				e["ISTHMUS_SIM_DUPLICATE_CHECK_BPS"] = "5000"
			}
		}
		if err := configure(c.cfg, c.name, e); err != nil {
			return nil, err
		}
	}
	return list, nil
}
