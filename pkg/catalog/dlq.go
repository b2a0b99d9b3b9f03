package catalog

import "regexp"

// DLQTopic is the logical dead-letter topic of a service: dlq.<service>.v1.
func DLQTopic(service string) string { return "dlq." + service + ".v1" }

// dlqName is a logical DLQ topic name, any version.
var dlqName = regexp.MustCompile(`^dlq\.([a-z0-9][a-z0-9-]*)\.v[0-9]+$`)

// DLQService returns the service of a logical DLQ topic dlq.<service>.v<N>
// and whether the name is one.
func DLQService(topic string) (string, bool) {
	m := dlqName.FindStringSubmatch(topic)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Header contract of the dead-letter topics dlq.<service>.v1. The record
// key and value are the ORIGINAL bytes, unchanged; the original headers are
// kept, and these are added (values are UTF-8 text):
const (
	// DLQHeaderTopic is the logical topic (no prefix) the message came from.
	DLQHeaderTopic = "dlq-original-topic"
	// DLQHeaderPartition is the original partition, decimal.
	DLQHeaderPartition = "dlq-original-partition"
	// DLQHeaderOffset is the original offset, decimal.
	DLQHeaderOffset = "dlq-original-offset"
	// DLQHeaderTimestamp is the original record timestamp, RFC 3339 (UTC, ms).
	DLQHeaderTimestamp = "dlq-original-timestamp"
	// DLQHeaderService is the service that gave up on the message.
	DLQHeaderService = "dlq-service"
	// DLQHeaderFailedAt is when it was dead-lettered, RFC 3339 (UTC, ms).
	DLQHeaderFailedAt = "dlq-failed-at"
	// DLQHeaderErrorClass is errs.ClassOf(err): poison, retriable, business, unknown.
	DLQHeaderErrorClass = "error-class"
	// DLQHeaderErrorReason is the short machine-readable reason (e.g. unknown-schema-id).
	DLQHeaderErrorReason = "error-reason"
	// DLQHeaderErrorMessage is the error text.
	DLQHeaderErrorMessage = "error-message"
	// DLQHeaderReplayCount counts replays by `isthmus dlq replay` (absent = 0).
	DLQHeaderReplayCount = "dlq-replay-count"
	// DLQHeaderReplayedFrom names the DLQ record a replayed message came
	// from: "<dlq topic>/<partition>/<offset>" (replays are idempotent by it).
	DLQHeaderReplayedFrom = "dlq-replayed-from"
)

// Headers every event carries (DESIGN.md §3).
const (
	HeaderCorrelationID = "correlation-id"
	HeaderTraceparent   = "traceparent"
)

// DLQHeaderDoc describes each DLQ header, in the order above (for docs).
var DLQHeaderDoc = []struct{ Name, Doc string }{
	{DLQHeaderTopic, "Logical topic (without ISTHMUS_TOPIC_PREFIX) the message was consumed from."},
	{DLQHeaderPartition, "Original partition, decimal."},
	{DLQHeaderOffset, "Original offset, decimal."},
	{DLQHeaderTimestamp, "Original record timestamp, RFC 3339 UTC with milliseconds."},
	{DLQHeaderService, "Service that dead-lettered the message."},
	{DLQHeaderFailedAt, "When the message was dead-lettered, RFC 3339 UTC with milliseconds."},
	{DLQHeaderErrorClass, "Error class: poison, retriable, business or unknown."},
	{DLQHeaderErrorReason, "Short machine-readable reason, e.g. unknown-schema-id, bad-magic, validation."},
	{DLQHeaderErrorMessage, "Error message text."},
	{DLQHeaderReplayCount, "How many times isthmus dlq replay has re-published the message (absent means 0)."},
	{DLQHeaderReplayedFrom, "The DLQ record a replayed message came from: <dlq topic>/<partition>/<offset>; a replay is skipped when the target already holds it."},
	{HeaderCorrelationID, "Correlation id of the original message, when it had one."},
	{HeaderTraceparent, "W3C trace context of the original message, when it had one."},
}
