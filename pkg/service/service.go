// Package service assembles what every Isthmus service runs besides its
// domain: the admin server (/healthz, /readyz, /metrics), its processors and
// other long-running parts under one lifecycle, and the clients built from
// the common configuration (schema registry, serde).
//
// A service's entry package does:
//
//	svc := service.New(&cfg.Common, log)
//	sd, err := svc.Serde()
//	p, err := processor.New(..., svc.ProcessorOptions(sd)...)
//	svc.AddProcessor("orders", p)
//	return svc.Run(ctx)
package service

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/isthmus/isthmus/pkg/gatewayclient"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/admin"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/kafka"
	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/pkg/serde"
)

// Service is one running service.
type Service struct {
	Common *config.Common
	Log    *slog.Logger
	Admin  *admin.Server
	comps  []lifecycle.Component
}

// New returns a service with an admin server on c.AdminAddr.
func New(c *config.Common, log *slog.Logger) *Service {
	return &Service{Common: c, Log: log, Admin: admin.New(c.AdminAddr, metrics.Registry, log)}
}

// Add registers a long-running part and, when ready is not nil, its
// readiness check.
func (s *Service) Add(name string, run func(context.Context) error, ready admin.Check) {
	s.comps = append(s.comps, lifecycle.Component{Name: name, Run: run})
	if ready != nil {
		s.Admin.AddCheck(name, ready)
	}
}

// AddProcessor registers a processor and its readiness.
func (s *Service) AddProcessor(name string, p *processor.Processor) {
	s.Add(name, p.Run, p.Ready)
}

// DialGateway connects to the gateway (ISTHMUS_GATEWAY_ADDR) with c and
// runs its OAuth2 token renewal as a part of the service (renewed ahead of
// expiry); with ready, the part is in readiness too, so an identity
// provider down for longer than a token lives shows on /readyz. The caller
// closes the connection.
func (s *Service) DialGateway(c gatewayclient.Config, ready bool) (*gatewayclient.Conn, error) {
	conn, err := gatewayclient.Dial(s.Common.GatewayAddr, c, s.Log)
	if err != nil {
		return nil, err
	}
	if src := conn.Credentials; src != nil {
		var check admin.Check
		if ready {
			check = src.Ready
		}
		s.Add("gateway-credentials", src.Run, check)
	}
	return conn, nil
}

// Handle adds a route to the admin server.
func (s *Service) Handle(pattern string, h http.Handler) { s.Admin.Handle(pattern, h) }

// RegistryClient returns a schema registry client for the configuration
// (config.Registry.Client: auth and CA bundle).
func RegistryClient(r config.Registry) (*sr.Client, error) { return r.Client() }

// Serde returns a serde on the configured registry (lookup-only: schemas
// are registered by `isthmus schemas apply`).
func (s *Service) Serde(opts ...serde.Option) (*serde.Serde, error) {
	cl, err := RegistryClient(s.Common.Registry)
	if err != nil {
		return nil, err
	}
	return serde.New(cl, opts...), nil
}

// ProcessorOptions are the options every processor of the service gets.
func (s *Service) ProcessorOptions(sd *serde.Serde) []processor.Option {
	return []processor.Option{processor.WithLogger(s.Log), processor.WithSerde(sd), processor.WithStaticMembership(s.Common.InstanceStable), processor.WithStateDir(s.Common.StateDir)}
}

// Run checks the Kafka settings (a refused TLS or SASL connection ends the
// start with one line naming the setting; an unreachable cluster is only
// logged, the parts retry), binds the admin port (failing fast when taken),
// then runs the admin server and every part until ctx ends or one fails.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Common.Kafka.Preflight(ctx, 10*time.Second); err != nil {
		var ce *kafka.ConnectError
		if errors.As(err, &ce) {
			return err
		}
		s.Log.Warn("kafka not reachable at start; retrying in the background", "err", err)
	}
	if err := s.Admin.Listen(); err != nil {
		return err
	}
	s.Log.Info("admin server listening", "addr", s.Admin.Addr())
	comps := append([]lifecycle.Component{{Name: "admin", Run: s.Admin.Run}}, s.comps...)
	start := time.Now()
	err := lifecycle.Run(ctx, s.Log, comps...)
	s.Log.Info("service stopped", "uptime", time.Since(start).Round(time.Millisecond).String())
	return err
}
