package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/match"
)

// Golden is the read model of the golden customers (mdm.customer.v1), for the
// duplicate check and account validation. Unlike the ERP models it is not
// mirrored in memory (a million records are Redis' job): besides the data hash
// (golden id → GoldenInfo) it keeps one Redis set per blocking key of the
// matcher (pkg/match.BlockKeys) holding the golden ids filed under it, so a
// query reads a handful of small sets and the candidates' entries in one
// server-side script. Only ACTIVE records are kept; MERGED, RETIRED and
// erased records and tombstones leave the model and their blocks.
//
// Build it with its own Builder over a store without mirror:
// NewBuilder(NewStore(rdb, prefix), ..., WithModels(Golden)).
const Golden Model = "mdm.customer.v1"

// GoldenInfo is what the model keeps of a golden customer: the match
// features (pkg/match.FromGolden, exactly as customer-sync's index derives
// them) and what an answer shows.
type GoldenInfo struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Features     match.Features `json:"features"`
	ERPID        string         `json:"erp,omitempty"`
	CRMIDs       []string       `json:"crm,omitempty"`
	Territory    string         `json:"territory,omitempty"`
	CreditStatus string         `json:"credit_status,omitempty"`
	AsOf         time.Time      `json:"as_of"`
}

// GoldenInfoOf maps a golden customer record to the model's value; ok is
// false when the record leaves the model (not ACTIVE, or erased).
func GoldenInfoOf(g *contracts.GoldenCustomer) (GoldenInfo, bool) {
	if g.Status != contracts.GoldenStatusActive || g.Erased {
		return GoldenInfo{}, false
	}
	country, postal := contracts.Deref(g.Country), contracts.Deref(g.PostalCode)
	if country == "" && g.BillingAddress != nil {
		country = g.BillingAddress.Country
	}
	gi := GoldenInfo{
		ID: g.GoldenID, Name: g.Name, ERPID: contracts.Deref(g.ERPCustomerID), Territory: contracts.Deref(g.Territory),
		CreditStatus: g.CreditStatus, AsOf: g.Metadata.OccurredAt.UTC(),
		Features: match.FromGolden(match.Golden{Name: g.Name, LegalName: contracts.Deref(g.LegalName), Country: country,
			Domain: contracts.Deref(g.Domain), TaxID: contracts.Deref(g.TaxID), Phone: contracts.Deref(g.Phone), Postal: postal}),
	}
	for _, m := range g.Members {
		if m.System == contracts.SourceSystemCRM {
			gi.CRMIDs = append(gi.CRMIDs, m.ID)
		}
	}
	return gi, true
}

func goldenChange(key string, rec any) (string, any, bool, error) {
	r := rec.(*contracts.GoldenCustomer)
	if r.GoldenID == "" {
		return "", nil, false, errors.New("golden record without golden_id")
	}
	gi, ok := GoldenInfoOf(r)
	if !ok {
		return r.GoldenID, nil, true, nil
	}
	return r.GoldenID, gi, false, nil
}

// BlockHex is the name of a blocking key in the model: 16 hex digits.
func BlockHex(k uint64) string { return fmt.Sprintf("%016x", k) }

// EncodeGolden is the stored form of a golden entry: its blocking keys on the
// first line (so the apply script can unfile the old ones), then the JSON.
func EncodeGolden(gi GoldenInfo) ([]byte, error) {
	js, err := encodeValue(gi)
	if err != nil {
		return nil, err
	}
	keys := match.BlockKeys(&gi.Features)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(BlockHex(k))
	}
	b.WriteByte('\n')
	b.Write(js)
	return []byte(b.String()), nil
}

// DecodeGolden is EncodeGolden's inverse.
func DecodeGolden(raw []byte) (*GoldenInfo, error) {
	_, js, ok := strings.Cut(string(raw), "\n")
	if !ok {
		return nil, errors.New("golden entry without block line")
	}
	v, err := decodeAs[GoldenInfo]([]byte(js))
	if err != nil {
		return nil, err
	}
	return v.(*GoldenInfo), nil
}

// BlockPrefix is the prefix of the model's block sets (+ BlockHex).
func (s *Store) BlockPrefix() string { return s.key(Golden, "b:") }

// applyGoldenScript is applyScript for the golden model: before a field is
// replaced or deleted its old blocking keys (first line of the value) are
// unfiled, then the new value's keys are filed. ARGV: epoch, partition, next
// offset, block set prefix, then (offset, field, value) triples.
var applyGoldenScript = redis.NewScript(`
local function blocks(v)
  local out = {}
  local nl = string.find(v, '\n', 1, true)
  if not nl then return out end
  for k in string.gmatch(string.sub(v, 1, nl - 1), '%S+') do out[#out + 1] = k end
  return out
end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local stored = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local n = 0
for i = 5, #ARGV, 3 do
  if tonumber(ARGV[i]) >= stored then
    local f = ARGV[i+1]
    local old = redis.call('HGET', KEYS[1], f)
    if old then
      for _, k in ipairs(blocks(old)) do redis.call('SREM', ARGV[4] .. k, f) end
    end
    if ARGV[i+2] == '' then
      redis.call('HDEL', KEYS[1], f)
    else
      redis.call('HSET', KEYS[1], f, ARGV[i+2])
      for _, k in ipairs(blocks(ARGV[i+2])) do redis.call('SADD', ARGV[4] .. k, f) end
    end
    n = n + 1
  end
end
if tonumber(ARGV[3]) > stored then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
return n
`)

// candidatesScript reads, in one round trip and one consistent view, the
// golden entries filed under the given blocking keys, skipping blocks of
// more than max_block ids (too unspecific, as in the matcher's index).
// KEYS: epoch, ready, data. ARGV: max_block, block prefix, block keys...
// Returns -1 when the model is not ready, else {count, ids, values}.
var candidatesScript = redis.NewScript(`
local e = redis.call('GET', KEYS[1])
if not e or redis.call('GET', KEYS[2]) ~= e then return -1 end
local max = tonumber(ARGV[1])
local seen, ids = {}, {}
for i = 3, #ARGV do
  local k = ARGV[2] .. ARGV[i]
  local n = redis.call('SCARD', k)
  if n > 0 and n <= max then
    for _, m in ipairs(redis.call('SMEMBERS', k)) do
      if not seen[m] then seen[m] = true; ids[#ids + 1] = m end
    end
  end
end
local count = redis.call('HLEN', KEYS[3])
if #ids == 0 then return {count, {}, {}} end
return {count, ids, redis.call('HMGET', KEYS[3], unpack(ids))}
`)

// GoldenCandidates returns the golden entries sharing a blocking key with a
// query (keys: pkg/match.BlockKeys), skipping blocks larger than maxBlock, and
// the number of golden records in the model.
func (s *Store) GoldenCandidates(ctx context.Context, keys []uint64, maxBlock int) ([]*GoldenInfo, int64, error) {
	args := make([]any, 0, 2+len(keys))
	args = append(args, maxBlock, s.BlockPrefix())
	for _, k := range keys {
		args = append(args, BlockHex(k))
	}
	res, err := candidatesScript.Run(ctx, s.rdb, []string{s.epoch(Golden), s.ready(Golden), s.Data(Golden)}, args...).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("golden candidates: %w", err)
	}
	if n, ok := res.(int64); ok && n < 0 {
		return nil, 0, &NotReadyError{Models: []Model{Golden}}
	}
	parts, ok := res.([]any)
	if !ok || len(parts) != 3 {
		return nil, 0, fmt.Errorf("golden candidates: unexpected reply %T", res)
	}
	count, _ := parts[0].(int64)
	ids, _ := parts[1].([]any)
	vals, _ := parts[2].([]any)
	out := make([]*GoldenInfo, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // removed between SMEMBERS and HMGET cannot happen in a script; a stale block member
		}
		gi, err := DecodeGolden([]byte(str))
		if err != nil {
			id, _ := ids[i].(string)
			return nil, 0, &CorruptError{Model: Golden, Field: id, Err: err}
		}
		out = append(out, gi)
	}
	return out, count, nil
}
