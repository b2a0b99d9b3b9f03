package golden

import (
	"fmt"

	"github.com/isthmus/isthmus/pkg/match"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
	"github.com/isthmus/isthmus/services/customer-sync/internal/territory"
)

// Config of the aggregate. Start from DefaultConfig.
type Config struct {
	Match     match.Config
	Ownership survivorship.Config
	// ERPCreateStages: a golden record without an ERP customer gets a
	// CREATE command when its lifecycle_stage is one of these. Default
	// ["customer"].
	ERPCreateStages []string
	// ERPKeeps: CRM-owned fields the ERP keeps a copy of; a change sends an
	// UPDATE command. Default name, website, phone, email, industry,
	// shipping_address.
	ERPKeeps []Field
	// CRMReceives: ERP-owned fields sent back to every CRM account of the
	// golden record when they change. Default erp_customer_number,
	// payment_terms, credit_status, credit_limit.
	CRMReceives []Field
	// Territory rules assign the territory of every golden record
	// (territory.go). Default nil: the CRM's own territory is kept.
	Territory *territory.Rules
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Match:           match.DefaultConfig(),
		Ownership:       survivorship.Default(),
		ERPCreateStages: []string{"customer"},
		ERPKeeps: []Field{survivorship.Name, survivorship.Website, survivorship.Phone, survivorship.Email,
			survivorship.Industry, survivorship.ShippingAddress},
		CRMReceives: []Field{survivorship.ERPCustomerNumber, survivorship.PaymentTerms, survivorship.CreditStatus,
			survivorship.CreditLimit},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := c.Match.Validate(); err != nil {
		return err
	}
	if err := c.Ownership.Validate(); err != nil {
		return err
	}
	if c.Territory != nil {
		if err := c.Territory.Validate(); err != nil {
			return err
		}
	}
	for _, f := range append(append([]Field(nil), c.ERPKeeps...), c.CRMReceives...) {
		if _, ok := c.Ownership.Fields[f]; !ok {
			return fmt.Errorf("golden config: field %s is not in ownership config v%d", f, c.Ownership.Version)
		}
	}
	return nil
}
