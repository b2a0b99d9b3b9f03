package gwtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/schemaregistry"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/gateway/gateway"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// Env is the infrastructure of one test.
type Env struct {
	T           testing.TB
	Brokers     []string
	Prefix      string // topic and Redis key prefix, unique per test
	RedisURL    string
	RegistryURL string
	Redis       *redis.Client
	Mini        *miniredis.Miniredis // nil against a real Redis
	kafka       *kgo.Client
	sr          *sr.Client

	mu  sync.Mutex
	ids map[string]int

	key            *ecdsa.PrivateKey
	PublicKeysFile string
}

// Topics are the gateway's input topics and its DLQ (logical names).
func Topics() []string {
	var out []string
	for _, m := range append(append([]readmodel.Model{readmodel.Golden}, readmodel.Models...), readmodel.ServiceModels...) {
		out = append(out, string(m))
	}
	return append(out, catalog.DLQTopic("gateway"))
}

// ReadAll returns the committed records of a logical topic, waiting up to
// wait for at least min of them.
func (e *Env) ReadAll(topic string, min int, wait time.Duration) []*kgo.Record {
	e.T.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...), kgo.ConsumeTopics(e.Prefix+topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.T.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	poll := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
		cancel()
	}
	if testinfra.Within(wait, func() bool { poll(time.Second); return len(out) >= min }) {
		// Keep reading briefly: more than min is a failure the caller sees.
		poll(2 * time.Second)
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Unit returns an in-process environment: kfake broker, miniredis, the development
// schema registry.
func Unit(t testing.TB) *Env { return Local(t, "") }

// Local is Unit with the Redis at redisURL when it is not empty (benchmarks).
func Local(t testing.TB, redisURL string) *Env {
	t.Helper()
	prefix := "t" + randomHex(4) + "."
	var topics []string
	for _, tp := range Topics() {
		topics = append(topics, prefix+tp)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	var mr *miniredis.Miniredis
	if redisURL == "" {
		mr = miniredis.RunT(t)
		redisURL = "redis://" + mr.Addr() + "/0"
	}
	reg, err := schemaregistry.New(schemaregistry.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	e := newEnv(t, cluster.ListenAddrs(), prefix, redisURL, srv.URL)
	e.Mini = mr
	return e
}

// Integration returns the real broker, Redis and registry from the environment
// (ISTHMUS_KAFKA_BROKERS, ISTHMUS_REDIS_URL, ISTHMUS_SCHEMA_REGISTRY_URL), with
// unique topics. Redis is used in database 15, which tests may flush
// (FLUSHDB) without touching other tests' data.
func Integration(t testing.TB) *Env {
	t.Helper()
	brokers := testinfra.Brokers(t)
	regURL := testinfra.RegistryURL(t)
	rurl := testinfra.RedisURL(t)
	opts, err := redis.ParseURL(rurl)
	if err != nil {
		t.Fatalf("ISTHMUS_REDIS_URL: %v", err)
	}
	opts.DB = 15
	rurl = fmt.Sprintf("redis://%s/15", opts.Addr)
	if opts.Password != "" {
		rurl = fmt.Sprintf("redis://%s:%s@%s/15", opts.Username, opts.Password, opts.Addr)
	}
	prefix := "gwtest-" + randomHex(4) + "."
	var topics []string
	for _, tp := range Topics() {
		topics = append(topics, prefix+tp)
	}
	testinfra.CreateTopics(t, brokers, 3, topics...)
	return newEnv(t, brokers, prefix, rurl, regURL)
}

func newEnv(t testing.TB, brokers []string, prefix, redisURL, regURL string) *Env {
	t.Helper()
	e := &Env{T: t, Brokers: brokers, Prefix: prefix, RedisURL: redisURL, RegistryURL: regURL, ids: map[string]int{}}
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	e.Redis = redis.NewClient(ropts)
	t.Cleanup(func() { e.Redis.Close() })
	if e.kafka, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.kafka.Close)
	if e.sr, err = sr.NewClient(sr.URLs(regURL)); err != nil {
		t.Fatal(err)
	}
	if e.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&e.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	e.PublicKeysFile = filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(e.PublicKeysFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"kid": "test"}, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *Env) schemaID(ctx context.Context, topic string) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	phys := e.Prefix + topic
	if id, ok := e.ids[phys]; ok {
		return id, nil
	}
	t, err := catalog.MustEmbedded().Lookup(topic)
	if err != nil {
		return 0, err
	}
	ss, err := e.sr.CreateSchema(ctx, phys+"-value", sr.Schema{Schema: t.SchemaJSON, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("register %s: %w", phys, err)
	}
	e.ids[phys] = ss.ID
	return ss.ID, nil
}

// Value returns r in the Confluent wire format.
func (e *Env) Value(r Record) []byte {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := e.schemaID(ctx, r.Topic)
	if err != nil {
		e.T.Fatal(err)
	}
	body, err := Encode(r)
	if err != nil {
		e.T.Fatalf("encode %s: %v", r.Topic, err)
	}
	out := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	return append(out, body...)
}

// Produce writes records (in order) and waits for the acks.
func (e *Env) Produce(rs ...Record) {
	e.T.Helper()
	krs := make([]*kgo.Record, len(rs))
	for i, r := range rs {
		krs[i] = &kgo.Record{Topic: e.Prefix + r.Topic, Key: []byte(r.Key), Value: e.Value(r)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.kafka.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		e.T.Fatalf("produce: %v", err)
	}
}

// ProduceRaw writes a record with arbitrary bytes (poison tests).
func (e *Env) ProduceRaw(topic, key string, value []byte) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.kafka.ProduceSync(ctx, &kgo.Record{Topic: e.Prefix + topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
		e.T.Fatalf("produce: %v", err)
	}
}

// Token signs a token for subject with scopes, valid for ttl (negative: expired).
func (e *Env) Token(subject string, ttl time.Duration, scopes ...string) string {
	return SignES256(e.T, e.key, "test", subject, ttl, scopes...)
}

// SignES256 signs a token with key.
func SignES256(t testing.TB, key *ecdsa.PrivateKey, kid, subject string, ttl time.Duration, scopes ...string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": subject, "scope": strings.Join(scopes, " "), "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// AllScopes are every scope of the API.
var AllScopes = []string{"pricing:read", "credit:read", "credit:reserve", "inventory:read", "customer:read", "service:read"}

// Gateway is a running gateway.
type Gateway struct {
	GRPCAddr  string
	HTTPAddr  string
	AdminAddr string // /healthz, /readyz, /metrics
	Config    *gateway.Config
	stop      context.CancelFunc
	done      chan error
	once      sync.Once
	err       error
}

// Stop stops the gateway and waits for it.
func (g *Gateway) Stop() error {
	g.once.Do(func() { g.stop(); g.err = <-g.done })
	return g.err
}

// Config returns a gateway configuration for the environment.
func (e *Env) Config() *gateway.Config {
	cfg := &gateway.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", PublicKeysFile: e.PublicKeysFile,
		RateLimit: 0, RateBurst: 1, ReservationTTL: 15 * time.Minute, ReservationSettle: 30 * time.Second, HoldThresholdBps: 9000,
	}
	cfg.Common.Service = gateway.Name
	cfg.Common.Instance = "test-" + randomHex(3)
	cfg.Common.Kafka.Brokers = e.Brokers
	cfg.Common.Kafka.TopicPrefix = e.Prefix
	cfg.Common.Kafka.ClientID = "gateway-" + cfg.Common.Instance
	cfg.Common.Registry.URL = e.RegistryURL
	cfg.Common.RedisURL = e.RedisURL
	cfg.Common.AdminAddr = "127.0.0.1:0"
	return cfg
}

// Start runs a gateway with cfg (from Config, possibly changed) until the test ends.
func (e *Env) Start(cfg *gateway.Config, opts ...gateway.Option) *Gateway {
	e.T.Helper()
	gl, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		e.T.Fatal(err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		e.T.Fatal(err)
	}
	// The admin server binds its own address: a known free one, so that
	// WaitReady can ask it (a copy: callers start several gateways from
	// one configuration).
	run := *cfg
	if strings.HasSuffix(run.Common.AdminAddr, ":0") {
		run.Common.AdminAddr = testinfra.FreeAddr(e.T)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{GRPCAddr: gl.Addr().String(), HTTPAddr: hl.Addr().String(), AdminAddr: run.Common.AdminAddr, Config: cfg, stop: cancel, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(testWriter{e.T}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { g.done <- gateway.Serve(ctx, &run, log, gl, hl, opts...) }()
	e.T.Cleanup(func() { _ = g.Stop() })
	return g
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// WaitReady waits until the gateway reports ready on /readyz: every read
// model builder — the ERP models, the golden customers and the installed
// base, each catching up on its own — has its models ready in the current
// epoch (in Redis and in the gateway's memory), and Redis answers. A probe
// one API answers says nothing of the models another call reads.
func (g *Gateway) WaitReady(t testing.TB) {
	t.Helper()
	var last string
	if !testinfra.Within(30*time.Second, func() bool {
		resp, err := http.Get("http://" + g.AdminAddr + "/readyz")
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("gateway not ready after 30s: %s", last)
	}
}
