package customersync

import (
	"fmt"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/serde"
)

// Inputs and outputs of the service's tests, with and without a broker.

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func meta(id string, n int) contracts.EventMetadata {
	return contracts.EventMetadata{EventID: event.ID("test-input", id, fmt.Sprint(n)), CorrelationID: "corr-" + id,
		SourceSystem: contracts.SourceSystemCRM, OccurredAt: t0.Add(time.Duration(n) * time.Minute)}
}

func str(s string) *string { return &s }

func account(id, name string, n int, mut func(*contracts.Account)) *contracts.Account {
	a := &contracts.Account{Metadata: meta(id, n), Op: contracts.ChangeOperationUpsert, AccountID: id, Name: name,
		Status: contracts.AccountStatusProspect, SourceUpdatedAt: t0.Add(time.Duration(n) * time.Minute)}
	if mut != nil {
		mut(a)
	}
	return a
}

func customer(id, name string, n int, mut func(*contracts.Customer)) *contracts.Customer {
	md := meta(id, n)
	md.SourceSystem = contracts.SourceSystemERP
	c := &contracts.Customer{Metadata: md, Op: contracts.ChangeOperationUpsert, ERPCustomerID: id, Name: name,
		CreditStatus: contracts.CreditStatusActive, SourceUpdatedAt: t0.Add(time.Duration(n) * time.Minute)}
	if mut != nil {
		mut(c)
	}
	return c
}

func contact(id, account, last string, n int, mut func(*contracts.Contact)) *contracts.Contact {
	c := &contracts.Contact{Metadata: meta(id, n), Op: contracts.ChangeOperationUpsert, ContactID: id, AccountID: account,
		LastName: last, Roles: []string{}, SourceUpdatedAt: t0.Add(time.Duration(n) * time.Minute)}
	if mut != nil {
		mut(c)
	}
	return c
}

func addr(line, city, postal, country string) *contracts.Address {
	return &contracts.Address{Line1: line, City: city, PostalCode: &postal, Country: country}
}

func lead(id, company string, n int, mut func(*contracts.Lead)) *contracts.Lead {
	l := &contracts.Lead{Metadata: meta(id, n), LeadID: id, Status: contracts.LeadStatusQualified, Company: company,
		SourceUpdatedAt: t0.Add(time.Duration(n) * time.Minute)}
	if mut != nil {
		mut(l)
	}
	return l
}

// outputTopics are the topics customer-sync writes, plus its DLQ (the
// lead answers, crm.lead-updates.v1, aside).
var outputTopics = []string{contracts.TopicMDMCustomerV1, contracts.TopicMDMXrefV1, contracts.TopicERPCustomerCommandsV1,
	contracts.TopicCRMAccountUpdatesV1, contracts.TopicAuditFieldChangeV1, contracts.TopicOpsExceptionsV1, contracts.TopicMDMContactV1,
	contracts.TopicDlqCustomerSyncV1}

// newOutput returns an empty record of an output topic's type.
func newOutput(topic string) (serde.Record, error) {
	switch topic {
	case contracts.TopicMDMCustomerV1:
		return &contracts.GoldenCustomer{}, nil
	case contracts.TopicMDMXrefV1:
		return &contracts.CrossReference{}, nil
	case contracts.TopicERPCustomerCommandsV1:
		return &contracts.CustomerCommand{}, nil
	case contracts.TopicCRMAccountUpdatesV1:
		return &contracts.AccountUpdate{}, nil
	case contracts.TopicAuditFieldChangeV1:
		return &contracts.FieldChange{}, nil
	case contracts.TopicOpsExceptionsV1:
		return &contracts.OperationalException{}, nil
	case contracts.TopicMDMContactV1:
		return &contracts.GoldenContact{}, nil
	}
	return nil, fmt.Errorf("not an output topic: %s", topic)
}

func metadataOf(v serde.Record) contracts.EventMetadata {
	switch x := v.(type) {
	case *contracts.GoldenCustomer:
		return x.Metadata
	case *contracts.CrossReference:
		return x.Metadata
	case *contracts.CustomerCommand:
		return x.Metadata
	case *contracts.AccountUpdate:
		return x.Metadata
	case *contracts.FieldChange:
		return x.Metadata
	case *contracts.OperationalException:
		return x.Metadata
	case *contracts.GoldenContact:
		return x.Metadata
	}
	return contracts.EventMetadata{}
}
