// Package customersync is the entry of the customer-sync service: configuration in, Run out.
// Its main.go only parses configuration and calls Run; `isthmus dev`
// composes the same entry with the other services in one process.
//
// One processor runs three stages in one handler (docs/customer-sync.md,
// "Wiring"): the re-key stage validates every record of crm.account.v1,
// crm.contact.v1, erp.customer.v1 and ops.decisions.v1 and forwards its
// original bytes to the internal topic customer-sync.route.v1 under the
// source record it concerns; the route stage gives each source record a
// sticky match block (its country) and forwards to customer-sync.match.v1
// under that block; the match stage applies golden.State per partition,
// with the state in the processor's changelog-backed stores. Matching thus
// spreads over the partitions (and instances) by block.
package customersync

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/service"
	"github.com/isthmus/isthmus/services/customer-sync/internal/golden"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/territory"
)

// Name is the service name: consumer group, DLQ topic, metrics label.
const Name = "customer-sync"

// TopicRoute is the internal topic of the route stage, keyed by source
// record ("CRM:A1").
const TopicRoute = "customer-sync.route.v1"

// TopicMatch is the internal topic of the match stage, keyed by match block
// (golden.BlockOf).
const TopicMatch = "customer-sync.match.v1"

// Store is the state store of the match stage (changelog
// customer-sync.golden.changelog).
const Store = "golden"

// RouteStore is the state store of the route stage (changelog
// customer-sync.routes.changelog): each source record's match block and the
// events waiting for its first event.
const RouteStore = "routes"

// Inputs are the topics customer-sync consumes.
var Inputs = []string{contracts.TopicCRMAccountV1, contracts.TopicCRMContactV1, contracts.TopicERPCustomerV1, contracts.TopicOpsDecisionsV1, contracts.TopicCRMLeadV1}

// Config is the service's configuration.
type Config struct {
	config.Common
	// MergeThreshold: a best match score at or above it merges.
	MergeThreshold float64
	// ReviewThreshold: a best score at or above it (below MergeThreshold)
	// creates a record and raises PROBABLE_DUPLICATE.
	ReviewThreshold float64
	// OwnershipFile is a YAML ownership configuration; empty: built-in v1.
	OwnershipFile string
	// ConflictExceptions overrides the ownership configuration's
	// conflict_exceptions when set ("" keeps the file's or built-in value).
	ConflictExceptions string
	// TerritoryFile is a YAML territory rules file (internal/territory);
	// empty: no rules, the CRM's own territory is kept.
	TerritoryFile string
}

// Register declares every setting of the service.
func (c *Config) Register(s *config.Set) {
	c.Common.Register(s, Name)
	d := golden.DefaultConfig().Match
	s.Float(&c.MergeThreshold, "ISTHMUS_CUSTOMER_SYNC_MERGE_THRESHOLD", d.AutoMerge, "match score at or above which a new source record merges into a golden record")
	s.Float(&c.ReviewThreshold, "ISTHMUS_CUSTOMER_SYNC_REVIEW_THRESHOLD", d.Review, "match score at or above which (below the merge threshold) a PROBABLE_DUPLICATE exception is raised")
	s.String(&c.OwnershipFile, "ISTHMUS_CUSTOMER_SYNC_OWNERSHIP_FILE", "", "YAML ownership configuration (which system owns which attribute); empty: the built-in version 1")
	s.String(&c.TerritoryFile, "ISTHMUS_CUSTOMER_SYNC_TERRITORY_FILE", "", "YAML territory rules (country/region, industry, size; versioned) assigning every golden record's territory; empty: keep the CRM's territory")
	s.Func("ISTHMUS_CUSTOMER_SYNC_CONFLICT_EXCEPTIONS", "", "true/false: raise OWNERSHIP_CONFLICT exceptions besides the audit entry (empty: as the ownership configuration says)", func(v string) error {
		v = strings.TrimSpace(v)
		if v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("%q is not a boolean (true/false)", v)
			}
		}
		c.ConflictExceptions = v
		return nil
	})
	s.Check(func() error { _, err := c.Domain(); return err })
}

// Base returns the common part.
func (c *Config) Base() *config.Common { return &c.Common }

// Domain builds and validates the golden aggregate's configuration from the
// settings.
func (c *Config) Domain() (golden.Config, error) {
	g := golden.DefaultConfig()
	g.Match.AutoMerge, g.Match.Review = c.MergeThreshold, c.ReviewThreshold
	if c.OwnershipFile != "" {
		b, err := os.ReadFile(c.OwnershipFile)
		if err != nil {
			return g, fmt.Errorf("ISTHMUS_CUSTOMER_SYNC_OWNERSHIP_FILE: %w", err)
		}
		own, err := survivorship.Parse(b)
		if err != nil {
			return g, fmt.Errorf("ISTHMUS_CUSTOMER_SYNC_OWNERSHIP_FILE %s: %w", c.OwnershipFile, err)
		}
		g.Ownership = own
	}
	if c.ConflictExceptions != "" {
		g.Ownership.ConflictExceptions, _ = strconv.ParseBool(c.ConflictExceptions)
	}
	if c.TerritoryFile != "" {
		b, err := os.ReadFile(c.TerritoryFile)
		if err != nil {
			return g, fmt.Errorf("ISTHMUS_CUSTOMER_SYNC_TERRITORY_FILE: %w", err)
		}
		if g.Territory, err = territory.Parse(b); err != nil {
			return g, fmt.Errorf("ISTHMUS_CUSTOMER_SYNC_TERRITORY_FILE %s: %w", c.TerritoryFile, err)
		}
	}
	if err := g.Validate(); err != nil {
		return g, fmt.Errorf("customer-sync settings: %w", err)
	}
	return g, nil
}

// Run runs the service until ctx ends.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	dcfg, err := cfg.Domain()
	if err != nil {
		return err
	}
	svc := service.New(&cfg.Common, log)
	sd, err := svc.Serde()
	if err != nil {
		return err
	}
	h, err := NewHandler(dcfg, nil)
	if err != nil {
		return err
	}
	p, err := processor.New(ProcessorConfig(cfg.Instance, h), cfg.Kafka, svc.ProcessorOptions(sd)...)
	if err != nil {
		return err
	}
	svc.AddProcessor("customers", p)
	return svc.Run(ctx)
}

// ProcessorConfig is the processor of the service around h.
func ProcessorConfig(instance string, h *Handler) processor.Config {
	return processor.Config{
		Service:        Name,
		Instance:       instance,
		Topics:         Inputs,
		InternalTopics: []string{TopicRoute, TopicMatch},
		Stores:         []string{Store, RouteStore},
		Handler:        h.Handle,
		// The first step routes every record itself (to its match block or
		// its route partition), so a record on another partition than its
		// key's is correct where it is; forwarding it would only add a hop
		// and reorder it against its neighbours.
		NoForward: true,
	}
}
