// Package match is identity resolution: it finds the golden record a new
// account or customer belongs to. Records are reduced to Features (the
// normalised identity attributes); an Index keeps the Features of every
// golden record with blocking maps (tax id, domain, name + country, name
// words, name suffix, phone) so that only a handful of candidates are scored;
// Score weighs name similarity against exact evidence; Decide turns the best
// score into MERGE, REVIEW (new golden record plus a probable-duplicate
// exception) or NEW using configurable thresholds.
//
// Everything is deterministic: candidates are sorted by id before scoring and
// ties break on the smaller id, so replaying the same inputs against the same
// index gives the same decisions.
package match
