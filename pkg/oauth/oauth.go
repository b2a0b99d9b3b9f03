// Package oauth gets access tokens by the OAuth2 client-credentials grant
// (RFC 6749 §4.4) and keeps one valid: the one place where a program's
// service credentials live. Kafka's SASL/OAUTHBEARER (pkg/kafka) and the
// calls to the gateway (pkg/gatewayclient) use the same Source.
//
// A Source caches its token and renews it before expiry (at 75% of its
// lifetime). When the token endpoint is down, the cached token keeps being
// used until it expires, renewals are retried with capped backoff
// (pkg/retry), and Ready reports the outage once no valid token is left.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/retry"
)

// Metrics of every Source in the process, by client id.
var (
	requestsTotal = metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_oauth_token_requests_total",
		Help: "Requests to an OAuth2 token endpoint, by client id and result (ok, error).",
	}, []string{"client", "result"}))
	expiryGauge = metrics.Register(metrics.Registry, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "isthmus_oauth_token_expiry_timestamp_seconds",
		Help: "Expiry (Unix time) of the access token a client holds.",
	}, []string{"client"}))
)

// Config names the token endpoint and the client.
type Config struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	// Scopes asked for (the scope parameter); empty asks for none.
	Scopes []string
	// Audience asked for (the audience parameter, space-separated as Ory
	// Hydra and Auth0 take it); empty asks for none.
	Audience []string
}

// Validate reports a missing or malformed setting.
func (c Config) Validate() error {
	u, err := url.Parse(c.TokenURL)
	switch {
	case c.TokenURL == "":
		return errors.New("no token URL")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("token URL %q is not an http(s) URL", c.TokenURL)
	case c.ClientID == "":
		return errors.New("no client id")
	case c.ClientSecret == "":
		return errors.New("no client secret")
	}
	return nil
}

// Token is an access token and when it expires.
type Token struct {
	Value  string
	Expiry time.Time
}

// Source fetches, caches and renews the token of one client.
type Source struct {
	cfg     Config
	http    *http.Client
	log     *slog.Logger
	renewAt float64
	policy  retry.Policy
	now     func() time.Time

	mu      sync.Mutex // serializes fetches; guards the fields below
	tok     Token
	renew   time.Time // when to fetch the next token
	fetches int
	lastErr error
}

// Option configures a Source.
type Option interface{ apply(*Source) }

type optFunc func(*Source)

func (f optFunc) apply(s *Source) { f(s) }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return optFunc(func(s *Source) { s.log = l }) }

// New returns a Source; it fetches nothing until asked.
func New(cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, http: &http.Client{Timeout: 10 * time.Second}, log: slog.New(slog.DiscardHandler),
		renewAt: 0.75, policy: retry.Policy{Base: 200 * time.Millisecond, Max: 10 * time.Second}, now: time.Now}
	for _, o := range opts {
		o.apply(s)
	}
	return s, nil
}

// ErrNoToken is wrapped by Token and Ready when no valid token can be had.
var ErrNoToken = errors.New("no valid access token")

// Token returns a valid token: the cached one until its renewal time, then a
// new one. When renewing fails and the cached token has not expired, the
// cached token is returned; otherwise a retriable error wrapping ErrNoToken.
func (s *Source) Token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.tok.Value != "" && now.Before(s.renew) {
		return s.tok, nil
	}
	err := s.fetchLocked(ctx)
	if err == nil {
		return s.tok, nil
	}
	if s.valid(now) {
		s.log.Warn("access token renewal failed; using the cached token until it expires",
			"token_url", s.cfg.TokenURL, "expires_in", s.tok.Expiry.Sub(now).Round(time.Second).String(), "err", err)
		return s.tok, nil
	}
	return Token{}, errs.Retriable(errs.ReasonTokenEndpoint, fmt.Errorf("%w: %v", ErrNoToken, err))
}

// Ready reports nil while a valid token is held, fetching one when none is.
func (s *Source) Ready(ctx context.Context) error {
	_, err := s.Token(ctx)
	return err
}

// Fetches returns how many tokens were fetched successfully.
func (s *Source) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Run renews the token ahead of its expiry until ctx ends, retrying a
// failed renewal with backoff, so callers rarely wait on the endpoint.
func (s *Source) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		s.mu.Lock()
		wait := s.renew.Sub(s.now())
		if s.tok.Value == "" {
			wait = 0
		}
		s.mu.Unlock()
		if failures > 0 {
			wait = s.policy.Delay(failures)
		}
		if err := retry.Sleep(ctx, max(wait, 0)); err != nil {
			return nil
		}
		s.mu.Lock()
		due := s.tok.Value == "" || !s.now().Before(s.renew)
		var err error
		if due {
			err = s.fetchLocked(ctx)
		}
		s.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			failures++
			s.log.Warn("access token renewal failed; retrying", "token_url", s.cfg.TokenURL, "attempt", failures, "err", err)
			continue
		}
		failures = 0
	}
	return nil
}

func (s *Source) valid(now time.Time) bool {
	return s.tok.Value != "" && now.Before(s.tok.Expiry)
}

// fetchLocked asks the token endpoint for a new token (s.mu held) and
// counts the outcome.
func (s *Source) fetchLocked(ctx context.Context) error {
	err := s.requestLocked(ctx)
	result := "ok"
	if err != nil {
		result = "error"
	} else {
		expiryGauge.WithLabelValues(s.cfg.ClientID).Set(float64(s.tok.Expiry.Unix()))
	}
	requestsTotal.WithLabelValues(s.cfg.ClientID, result).Inc()
	return err
}

func (s *Source) requestLocked(ctx context.Context) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(s.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(s.cfg.Scopes, " "))
	}
	if len(s.cfg.Audience) > 0 {
		form.Set("audience", strings.Join(s.cfg.Audience, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	start := s.now()
	resp, err := s.http.Do(req)
	if err != nil {
		s.lastErr = fmt.Errorf("token endpoint %s: %w", s.cfg.TokenURL, err)
		return s.lastErr
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   *int64 `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		msg := tr.Error
		if tr.Description != "" {
			msg += ": " + tr.Description
		}
		if msg == "" {
			msg = strings.TrimSpace(string(body))
		}
		s.lastErr = fmt.Errorf("token endpoint %s answered %d: %s", s.cfg.TokenURL, resp.StatusCode, msg)
		return s.lastErr
	}
	if tr.AccessToken == "" {
		s.lastErr = fmt.Errorf("token endpoint %s: no access_token in the answer", s.cfg.TokenURL)
		return s.lastErr
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		s.lastErr = fmt.Errorf("token endpoint %s: token_type %q, want bearer", s.cfg.TokenURL, tr.TokenType)
		return s.lastErr
	}
	life := 5 * time.Minute // no expires_in: renew regularly anyway
	if tr.ExpiresIn != nil {
		life = time.Duration(max(*tr.ExpiresIn, 0)) * time.Second
	}
	s.tok = Token{Value: tr.AccessToken, Expiry: start.Add(life)}
	s.renew = start.Add(time.Duration(float64(life) * s.renewAt))
	s.fetches++
	s.lastErr = nil
	s.log.Debug("access token fetched", "token_url", s.cfg.TokenURL, "expires_in", life.String())
	return nil
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*Source{}
)

// Shared returns the process-wide Source for cfg, so every Kafka client and
// connection of a program uses one token (created on first use).
func Shared(cfg Config, opts ...Option) (*Source, error) {
	key := strings.Join([]string{cfg.TokenURL, cfg.ClientID, cfg.ClientSecret,
		strings.Join(cfg.Scopes, " "), strings.Join(cfg.Audience, " ")}, "\x00")
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s, ok := shared[key]; ok {
		return s, nil
	}
	s, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	shared[key] = s
	return s, nil
}
