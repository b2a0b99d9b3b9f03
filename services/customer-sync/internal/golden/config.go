package golden

import (
	"fmt"

	"github.com/isthmus/isthmus/services/customer-sync/internal/match"
	"github.com/isthmus/isthmus/services/customer-sync/internal/survivorship"
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
	for _, f := range append(append([]Field(nil), c.ERPKeeps...), c.CRMReceives...) {
		if _, ok := c.Ownership.Fields[f]; !ok {
			return fmt.Errorf("golden config: field %s is not in ownership config v%d", f, c.Ownership.Version)
		}
	}
	return nil
}
