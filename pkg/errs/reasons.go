package errs

import (
	"fmt"
	"strings"
)

// Reason is the short machine-readable reason of a classified failure: the
// value of the DLQ header error-reason (catalog.DLQHeaderErrorReason), of
// the "reason" field of log lines and of exception codes derived from it.
//
// Every reason is a constant of the table below, in snake_case. Two keep
// the spelling the DLQ header contract documents (docs/asyncapi.yaml,
// docs/customer-sync.md): ReasonUnknownSchemaID and ReasonBadMagic.
// Callers pass a constant, never a string literal (a test walks the
// repository for literals).
type Reason string

// The reasons, by what failed.
const (
	// ReasonUnclassified is what ReasonOf returns for an error without one.
	ReasonUnclassified Reason = "unclassified"

	// Dependencies and the runtime (retriable).
	ReasonState               Reason = "state"                 // the service's state store
	ReasonRestore             Reason = "restore"               // restoring state from its changelog
	ReasonFlush               Reason = "flush"                 // flushing a transaction's records
	ReasonProduce             Reason = "produce"               // a record of a transaction was refused
	ReasonKafka               Reason = "kafka"                 // the brokers
	ReasonRedis               Reason = "redis"                 // Redis
	ReasonDLQ                 Reason = "dlq"                   // writing a dead letter
	ReasonGateway             Reason = "gateway"               // a call to the gateway
	ReasonGatewayIncomplete   Reason = "gateway_incomplete"    // a gateway answer missing what was asked
	ReasonRegistryUnavailable Reason = "registry_unavailable"  // the schema registry
	ReasonSchemaNotRegistered Reason = "schema_not_registered" // a writer schema not (yet) registered
	ReasonSchemaRejected      Reason = "schema_rejected"       // the registry refused a schema
	ReasonTokenEndpoint       Reason = "token_endpoint"        // the OAuth token endpoint
	ReasonCorruptState        Reason = "corrupt_state"         // our own state does not decode
	ReasonRoutingUnknown      Reason = "routing_unknown"       // a flow's routing mode not yet known up to the command's time

	// Bytes and schemas (poison).
	ReasonUnknownSchemaID     Reason = "unknown-schema-id" // documented DLQ value
	ReasonBadMagic            Reason = "bad-magic"         // documented DLQ value: not the Confluent wire format
	ReasonTruncated           Reason = "truncated"
	ReasonAvroDecode          Reason = "avro_decode"
	ReasonAvroEncode          Reason = "avro_encode"
	ReasonSchemaIncompatible  Reason = "schema_incompatible"
	ReasonEncode              Reason = "encode"
	ReasonStateEncode         Reason = "state_encode"
	ReasonTombstoneWithoutKey Reason = "tombstone_without_key"
	ReasonPanic               Reason = "panic" // the handler panicked

	// Messages that break their contract (poison).
	ReasonValidation             Reason = "validation"
	ReasonContract               Reason = "contract" // breaks its contract where the schema cannot say (unknown op, missing id)
	ReasonKeyMismatch            Reason = "key_mismatch"
	ReasonMissingID              Reason = "missing_id"
	ReasonUnknownTopic           Reason = "unknown_topic"
	ReasonUnknownEvent           Reason = "unknown_event"
	ReasonUnknownException       Reason = "unknown_exception"
	ReasonInvalidDecision        Reason = "invalid_decision" // a decision without its id, exception, actor or action
	ReasonBadInternalMessage     Reason = "bad_internal_message"
	ReasonObservation            Reason = "observation"
	ReasonBadRecord              Reason = "bad_record"
	ReasonInconsistentRecord     Reason = "inconsistent_record"
	ReasonAssetOp                Reason = "asset_op"
	ReasonGatewayInvalidArgument Reason = "gateway_invalid_argument"
	ReasonInvalidCase            Reason = "invalid_case"
	ReasonUnknownReturn          Reason = "unknown_return"
	ReasonUnknownServiceOrder    Reason = "unknown_service_order"
	ReasonUnknownGoldenID        Reason = "unknown_golden_id" // a decision or update for a golden record that does not exist
	ReasonDecisionRefused        Reason = "decision_refused"  // a steward decision that cannot be carried out; the exception goes back OPEN with it
	ReasonBadContractID          Reason = "bad_contract_id"
	ReasonWrongContract          Reason = "wrong_contract"

	// Billing contract rules (poison or business exception).
	ReasonMissingContractID         Reason = "missing_contract_id"
	ReasonBadSequence               Reason = "bad_sequence"
	ReasonUnknownKind               Reason = "unknown_kind"
	ReasonUnknownChange             Reason = "unknown_change"
	ReasonMissingCustomer           Reason = "missing_customer"
	ReasonBadCurrency               Reason = "bad_currency"
	ReasonUnknownFrequency          Reason = "unknown_frequency"
	ReasonMissingDate               Reason = "missing_date"
	ReasonEndBeforeStart            Reason = "end_before_start"
	ReasonZeroLengthTerm            Reason = "zero_length_term"
	ReasonTermTooLong               Reason = "term_too_long"
	ReasonMissingLines              Reason = "missing_lines"
	ReasonTooManyLines              Reason = "too_many_lines"
	ReasonMissingSKU                Reason = "missing_sku"
	ReasonDuplicateSKU              Reason = "duplicate_sku"
	ReasonNegativeQuantity          Reason = "negative_quantity"
	ReasonNegativePrice             Reason = "negative_price"
	ReasonMixedCurrencies           Reason = "mixed_currencies"
	ReasonAmountTooLarge            Reason = "amount_too_large"
	ReasonUnknownContract           Reason = "unknown_contract"
	ReasonCurrencyChanged           Reason = "currency_changed"
	ReasonFrequencyChanged          Reason = "frequency_changed"
	ReasonEffectiveOutsideTerm      Reason = "effective_outside_term"
	ReasonEffectiveBeforeLastChange Reason = "effective_before_last_change"
	ReasonContractCanceled          Reason = "contract_canceled"
	ReasonRenewalNotExtending       Reason = "renewal_not_extending"
	ReasonChangeMismatch            Reason = "change_mismatch"
	ReasonConflictingDuplicate      Reason = "conflicting_duplicate"

	// Valid messages that need a person (business exceptions).
	ReasonSubscriptionConflict Reason = "subscription_conflict"
	ReasonUnknownDocument      Reason = "unknown_document"
	ReasonUnknownJournal       Reason = "unknown_journal"
)

// Reasons is the table of every reason constant.
var Reasons = []Reason{
	ReasonUnclassified,
	ReasonState, ReasonRestore, ReasonFlush, ReasonProduce, ReasonKafka, ReasonRedis, ReasonDLQ,
	ReasonGateway, ReasonGatewayIncomplete, ReasonRegistryUnavailable, ReasonSchemaNotRegistered,
	ReasonSchemaRejected, ReasonTokenEndpoint, ReasonCorruptState, ReasonRoutingUnknown,
	ReasonUnknownSchemaID, ReasonBadMagic, ReasonTruncated, ReasonAvroDecode, ReasonAvroEncode,
	ReasonSchemaIncompatible, ReasonEncode, ReasonStateEncode, ReasonTombstoneWithoutKey, ReasonPanic,
	ReasonValidation, ReasonContract, ReasonKeyMismatch, ReasonMissingID, ReasonUnknownTopic,
	ReasonUnknownEvent, ReasonUnknownException, ReasonInvalidDecision, ReasonBadInternalMessage,
	ReasonObservation, ReasonBadRecord, ReasonInconsistentRecord,
	ReasonAssetOp, ReasonGatewayInvalidArgument, ReasonInvalidCase, ReasonUnknownReturn,
	ReasonUnknownServiceOrder, ReasonUnknownGoldenID, ReasonDecisionRefused, ReasonBadContractID,
	ReasonWrongContract,
	ReasonMissingContractID, ReasonBadSequence, ReasonUnknownKind, ReasonUnknownChange,
	ReasonMissingCustomer, ReasonBadCurrency, ReasonUnknownFrequency, ReasonMissingDate,
	ReasonEndBeforeStart, ReasonZeroLengthTerm, ReasonTermTooLong, ReasonMissingLines,
	ReasonTooManyLines, ReasonMissingSKU, ReasonDuplicateSKU, ReasonNegativeQuantity,
	ReasonNegativePrice, ReasonMixedCurrencies, ReasonAmountTooLarge, ReasonUnknownContract,
	ReasonCurrencyChanged, ReasonFrequencyChanged, ReasonEffectiveOutsideTerm,
	ReasonEffectiveBeforeLastChange, ReasonContractCanceled, ReasonRenewalNotExtending,
	ReasonChangeMismatch, ReasonConflictingDuplicate,
	ReasonSubscriptionConflict, ReasonUnknownDocument, ReasonUnknownJournal,
}

// GatewayStatus is the reason of a gateway call that failed with a gRPC
// status code (a codes.Code): "gateway_" and the code's name in lower case,
// e.g. gateway_unavailable, gateway_deadlineexceeded.
func GatewayStatus(code fmt.Stringer) Reason {
	return Reason("gateway_" + strings.ToLower(code.String()))
}
