// Package normalize turns the raw identity attributes of a CRM account or ERP
// customer (company name, web domain, tax id, phone, e-mail, address, country)
// into canonical forms that the match index can compare, and validates them
// with precise errors. Every function is pure and deterministic.
package normalize
