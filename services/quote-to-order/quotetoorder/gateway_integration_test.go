//go:build integration

package quotetoorder_test

// The real gateway for the acceptance tests: the gateway binary built from
// services/gateway, run as a subprocess on loopback ports against the real
// broker, registry and Redis, fed by ERP reference data the test produces,
// and called by quote-to-order with a token signed by a key the test
// generates.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/redis/go-redis/v9"
)

// redisDB is the Redis database the gateway of these tests uses; every test
// flushes it first (the gateway's own tests use 15).
const redisDB = 14

// gatewaySubject is the token subject quote-to-order presents.
const gatewaySubject = "quote-to-order"

var (
	binDir     string
	buildOnce  sync.Once
	gatewayBin string
	buildErr   error
)

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "qto-it-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(binDir)
	os.Exit(code)
}

// buildGateway builds the gateway binary once per test process.
func buildGateway(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		gatewayBin = filepath.Join(binDir, "gateway")
		// Built in its own module (services/gateway), so it also builds
		// with GOWORK=off.
		cmd := exec.Command("go", "build", "-o", gatewayBin, ".")
		cmd.Dir = filepath.Join("..", "..", "gateway")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build services/gateway: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return gatewayBin
}

// ---- tokens (ES256 JWS, RFC 7515/7518) --------------------------------------

type signer struct {
	key *ecdsa.PrivateKey
	kid string
}

func newSigner(t testing.TB) *signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: k, kid: "qto-it"}
}

// publicPEM writes the public key as the gateway's ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS file.
func (s *signer) publicPEM(t testing.TB, path string) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"kid": s.kid}, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// token signs an ES256 JWT (the signature is r||s, 32 bytes each). Only the
// standard library is needed; the gateway verifies it with golang-jwt.
func (s *signer) token(t testing.TB, subject string, ttl time.Duration, scopes ...string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	input := enc(map[string]string{"alg": "ES256", "typ": "JWT", "kid": s.kid}) + "." +
		enc(map[string]any{"sub": subject, "scope": strings.Join(scopes, " "), "iat": now.Unix(), "exp": now.Add(ttl).Unix()})
	sum := sha256.Sum256([]byte(input))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// ---- Redis (the gateway's database) ----------------------------------------

// redisClient opens the gateway's Redis database for the test's checks.
func redisClient(t testing.TB, rawURL string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("redis url: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// gatewayRedisURL is ISTHMUS_REDIS_URL with database redisDB.
func gatewayRedisURL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(testinfra.RedisURL(t))
	if err != nil {
		t.Fatalf("ISTHMUS_REDIS_URL: %v", err)
	}
	u.Path = "/" + strconv.Itoa(redisDB)
	return u.String()
}

// ---- the gateway process ----------------------------------------------------

type gatewayProc struct {
	t         testing.TB
	bin       string
	env       []string
	grpcAddr  string
	adminAddr string
	logFile   string
	redisURL  string
	prefix    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// newGateway prepares (does not start) a gateway for the test's prefix and
// returns it with the token quote-to-order presents.
func newGateway(t testing.TB, prefix string) (*gatewayProc, string) {
	t.Helper()
	g := &gatewayProc{t: t, bin: buildGateway(t), grpcAddr: testinfra.FreeAddr(t), adminAddr: testinfra.FreeAddr(t), redisURL: gatewayRedisURL(t), prefix: prefix}
	if r, err := redisClient(t, g.redisURL).FlushDB(context.Background()).Result(); err != nil || r != "OK" {
		t.Fatalf("FLUSHDB: %v", r)
	}
	dir := t.TempDir()
	s := newSigner(t)
	keys := filepath.Join(dir, "gateway-keys.pem")
	s.publicPEM(t, keys)
	g.logFile = filepath.Join(dir, "gateway.log")
	g.env = append(os.Environ(),
		"ISTHMUS_KAFKA_BROKERS="+strings.Join(testinfra.Brokers(t), ","),
		"ISTHMUS_SCHEMA_REGISTRY_URL="+testinfra.RegistryURL(t),
		"ISTHMUS_REDIS_URL="+g.redisURL,
		"ISTHMUS_TOPIC_PREFIX="+prefix,
		"ISTHMUS_GATEWAY_GRPC_ADDR="+g.grpcAddr,
		"ISTHMUS_GATEWAY_HTTP_ADDR="+testinfra.FreeAddr(t),
		"ISTHMUS_ADMIN_ADDR="+g.adminAddr,
		"ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS="+keys,
		// quote-to-order is one client making ~5 calls per quote; the
		// catch-up after an outage or a restart would otherwise be paced by
		// the per-client rate limit (200/s), which is not under test here.
		"ISTHMUS_GATEWAY_RATE_LIMIT=0",
		"ISTHMUS_LOG_LEVEL=warn",
	)
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			b, _ := os.ReadFile(g.logFile)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("gateway log (tail):\n%s", b)
		}
	})
	return g, s.token(t, gatewaySubject, 2*time.Hour, "pricing:read", "credit:read", "credit:reserve", "inventory:read")
}

// start runs the gateway binary and waits until /readyz answers 200 (every
// read model caught up with the reference data produced so far).
func (g *gatewayProc) start() {
	g.t.Helper()
	lf, err := os.OpenFile(g.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command(g.bin)
	cmd.Env = g.env
	cmd.Stdout, cmd.Stderr = lf, lf
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start gateway: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	g.mu.Lock()
	g.cmd, g.done = cmd, done
	g.mu.Unlock()
	hc := &http.Client{Timeout: time.Second}
	exited := false
	ready := testinfra.Within(time.Minute, func() bool {
		select {
		case <-done:
			exited = true
			return true // stop waiting
		default:
		}
		res, err := hc.Get("http://" + g.adminAddr + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if exited {
		b, _ := os.ReadFile(g.logFile)
		g.t.Fatalf("gateway exited: %v\n%s", cmd.ProcessState, b)
	}
	if !ready {
		g.t.Fatalf("gateway not ready after a minute (log %s)", g.logFile)
	}
}

// stop sends SIGTERM and waits for the process (SIGKILL after 20 s).
func (g *gatewayProc) stop() {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		g.t.Errorf("gateway did not stop within 20s of SIGTERM; killing it")
		_ = cmd.Process.Kill()
		<-done
	}
}

// reservations returns the gateway's active credit reservations of an ERP
// customer: reservation id → order id.
func (g *gatewayProc) reservations(customer string) map[string]string {
	g.t.Helper()
	kv, err := redisClient(g.t, g.redisURL).HGetAll(context.Background(), g.prefix+"isthmus:{gw:resv:"+customer+"}:h").Result()
	if err != nil {
		g.t.Fatalf("HGETALL reservations: %v", err)
	}
	out := map[string]string{}
	for id, v := range kv {
		// amount|currency|created|expires|order id
		parts := strings.Split(v, "|")
		out[id] = parts[len(parts)-1]
	}
	return out
}

// ---- ERP reference data the gateway's read models are built from ----------

// erpCustomer is one ERP customer of the scenarios.
type erpCustomer struct {
	id, account string
	hold        bool // ERP credit hold: the gateway answers HOLD
	xref        bool // the CRM account is already cross-referenced
}

// refSKUs are the products in the NA/USD price book (net unit prices = list,
// no tiers, no customer discount) with 10 % tax, stocked at site MAIN.
var refSKUs = []string{"SKU-1", "SKU-2", "EXP-1", "TAX-1"}

const taxBps = 1000

func erpMeta(id string) contracts.EventMetadata {
	m := meta(id)
	m.SourceSystem = contracts.SourceSystemERP
	m.EventID = testinfra.UUID()
	return m
}

// reference produces the price book, stock, ERP customers, their credit
// positions and the cross-references that exist before the quotes.
func (e *env) reference(customers ...erpCustomer) {
	e.t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, sku := range refSKUs {
		e.in().Value(contracts.TopicERPPriceBookV1, sku+"|NA|USD", &contracts.PriceBookEntry{Metadata: erpMeta(sku), PriceBookID: "NA-2025", PriceBookVersion: 7,
			SKU: sku, Region: "NA", Currency: "USD", ListPrice: usd(prices[sku]), VolumeTiers: []contracts.VolumeTier{}, TaxRateBps: taxBps, Active: true})
		e.in().Value(contracts.TopicERPInventoryV1, sku+"|MAIN", &contracts.InventoryLevel{Metadata: erpMeta(sku), SKU: sku, Site: "MAIN", OnHand: 100_000, Allocated: 0, AsOf: now})
	}
	for _, c := range customers {
		acct := c.account
		e.in().Value(contracts.TopicERPCustomerV1, c.id, &contracts.Customer{Metadata: erpMeta(c.id), Op: contracts.ChangeOperationUpsert, ERPCustomerID: c.id,
			CRMAccountID: &acct, Name: "Customer " + c.id, CreditStatus: contracts.CreditStatusActive, SourceUpdatedAt: now})
		e.credit(c.id, c.hold)
		if c.xref {
			e.xref(c.account, c.id)
		}
	}
}

// credit publishes ERP's credit position of a customer: a limit far above
// any scenario's exposure, on hold or not.
func (e *env) credit(customer string, hold bool) {
	e.t.Helper()
	st := contracts.CreditStatusActive
	var reason *string
	if hold {
		st, reason = contracts.CreditStatusHold, ptr("overdue receivables")
	}
	e.in().Value(contracts.TopicERPCreditV1, customer, &contracts.CreditAccount{Metadata: erpMeta(customer), ERPCustomerID: customer,
		CreditLimit: usd(1_000_000_000_00), ArBalance: usd(0), OpenOrders: usd(0), Hold: hold, HoldReason: reason, CreditStatus: st,
		AsOf: time.Now().UTC().Truncate(time.Millisecond)})
}
