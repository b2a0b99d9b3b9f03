package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/devtoken"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/lifecycle"
)

func run(ctx context.Context, o Options, common *config.Common, log *slog.Logger, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	env := map[string]string{}
	var emb embedded
	defer emb.close()

	if envSet("ISTHMUS_KAFKA_BROKERS") {
		fmt.Fprintf(stdout, "kafka            %s (external)\n", strings.Join(common.Kafka.Brokers, ","))
	} else {
		c, err := startKafka(o.KafkaAddr, o.DataDir)
		if err != nil {
			return err
		}
		emb.kafka = c
		common.Kafka.Brokers = []string{o.KafkaAddr}
		env["ISTHMUS_KAFKA_BROKERS"] = o.KafkaAddr
		fmt.Fprintf(stdout, "kafka            %s (embedded kfake)\n", o.KafkaAddr)
	}
	if envSet("ISTHMUS_SCHEMA_REGISTRY_URL") {
		fmt.Fprintf(stdout, "schema registry  %s (external)\n", config.MaskURL(common.Registry.URL))
	} else {
		reg, stop, err := startRegistry(ctx, o.RegistryAddr, o.DataDir, log.With("component", "schema-registry"))
		if err != nil {
			return err
		}
		emb.registry, emb.stopReg = reg, stop
		common.Registry.URL = "http://" + o.RegistryAddr
		env["ISTHMUS_SCHEMA_REGISTRY_URL"] = common.Registry.URL
		fmt.Fprintf(stdout, "schema registry  http://%s (embedded)\n", o.RegistryAddr)
	}
	if envSet("ISTHMUS_REDIS_URL") {
		fmt.Fprintf(stdout, "redis            %s (external)\n", config.MaskURL(common.RedisURL))
	} else {
		m, err := startRedis(o.RedisAddr)
		if err != nil {
			return err
		}
		emb.redis = m
		common.RedisURL = "redis://" + o.RedisAddr + "/0"
		env["ISTHMUS_REDIS_URL"] = common.RedisURL
		fmt.Fprintf(stdout, "redis            %s (embedded)\n", common.RedisURL)
	}
	if err := provisionAll(ctx, common, log, stdout); err != nil {
		return err
	}
	// Development bearer tokens: the gateway trusts the dev key, the
	// services call it with a token minted from it.
	token, ops, err := devToken(o, env)
	if err != nil {
		return err
	}
	// quote-to-order, field-service and the simulated CRM call the in-process
	// gateway wherever it listens.
	if addr, ok := lookupEnv("ISTHMUS_GATEWAY_GRPC_ADDR"); ok {
		if host, port, err := net.SplitHostPort(addr); err == nil {
			if host == "" {
				host = "127.0.0.1"
			}
			env["ISTHMUS_GATEWAY_ADDR"] = net.JoinHostPort(host, port)
		}
	}
	comps, err := components(env, o)
	if err != nil {
		return err
	}
	var lc []lifecycle.Component
	for _, c := range comps {
		clog := log.With("service", c.name)
		lc = append(lc, lifecycle.Component{Name: c.name, Run: func(ctx context.Context) error { return c.run(ctx, clog) }})
		fmt.Fprintf(stdout, "%-16s http://%s/metrics  /readyz\n", c.name, c.admin)
	}
	lc = append(lc, lifecycle.Component{Name: "summary", Run: func(ctx context.Context) error {
		return summarize(ctx, common, stdout)
	}})
	fmt.Fprintf(stdout, "gateway          gRPC %s, REST http://%s/v1/... (OpenAPI at /openapi.json)\n",
		listenURL("ISTHMUS_GATEWAY_GRPC_ADDR", ":9090"), listenURL("ISTHMUS_GATEWAY_HTTP_ADDR", ":8080"))
	fmt.Fprintf(stdout, "dashboard        http://%s\n", listenURL("ISTHMUS_RECON_DASHBOARD_ADDR", ":8088"))
	fmt.Fprintf(stdout, "dev token        %s\n                 (more: isthmus dev-token --scopes pricing:read,credit:read)\n", token)
	fmt.Fprintf(stdout, "operator         export ISTHMUS_OPERATOR_TOKEN=%s\n", ops.resolver)
	fmt.Fprintf(stdout, "                 (dev-operator: ops.viewer, ops.resolver, ops.replayer, ops.cutover) then isthmus exceptions list, resolve, retry, ...; dlq replay; flows set\n")
	fmt.Fprintf(stdout, "approver         export ISTHMUS_OPERATOR_TOKEN=%s\n", ops.approver)
	fmt.Fprintf(stdout, "                 (dev-approver: ops.viewer, finance.approver) the second person of four eyes: isthmus exceptions approvals, approve\n")
	fmt.Fprintf(stdout, "                 more: isthmus dev-token --subject NAME --scopes %s\n", strings.Join(devtoken.OperatorRoles, ","))
	fmt.Fprintf(stdout, "                 dashboard as an operator: http://%s/#token=<operator token>\n", listenURL("ISTHMUS_RECON_DASHBOARD_ADDR", ":8088"))
	fmt.Fprintln(stdout, "Ctrl-C stops everything cleanly.")
	err = lifecycle.Run(ctx, log, lc...)
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "isthmus dev: stopped cleanly")
	return nil
}

// configure parses a service's settings from the process environment with
// dev's overrides on top, so each service sees the embedded infrastructure
// and its own admin port.
func configure(c lifecycle.Configurable, name string, env map[string]string) error {
	s := config.NewSet(name)
	c.Register(s)
	lookup := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return lookupEnv(k)
	}
	if err := s.Parse(nil, lookup, io.Discard); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// adminAddr gives every service of the dev process its own admin port.
func adminAddr(base, i int) string { return net.JoinHostPort("127.0.0.1", fmt.Sprint(base+i)) }

// operatorTokens are two development operators: one who decides and
// replays, one who approves (four eyes needs a second person).
type operatorTokens struct{ resolver, approver string }

// devToken loads (or creates) the development key, points the gateway and
// the operations API at its public half, gives the services a token with
// every scope, and mints two operator tokens.
func devToken(o Options, env map[string]string) (string, operatorTokens, error) {
	var ops operatorTokens
	dir, err := devtoken.Dir()
	if err != nil {
		return "", ops, err
	}
	if o.DataDir != "" {
		dir = o.DataDir
	}
	keys, err := devtoken.Load(dir, true)
	if err != nil {
		return "", ops, fmt.Errorf("development key: %w", err)
	}
	token, err := keys.Mint("isthmus-dev", devtoken.AllScopes, 7*24*time.Hour)
	if err != nil {
		return "", ops, err
	}
	if ops.resolver, err = keys.Mint("dev-operator", []string{"ops.viewer", "ops.resolver", "ops.replayer", "ops.cutover"}, 7*24*time.Hour); err != nil {
		return "", ops, err
	}
	if ops.approver, err = keys.Mint("dev-approver", []string{"ops.viewer", "finance.approver"}, 7*24*time.Hour); err != nil {
		return "", ops, err
	}
	env["ISTHMUS_GATEWAY_JWT_PUBLIC_KEYS"] = keys.PublicFile
	env["ISTHMUS_GATEWAY_TOKEN"] = token
	if _, ok := lookupEnv("ISTHMUS_OPS_JWKS_URL"); !ok {
		env["ISTHMUS_OPS_JWT_PUBLIC_KEYS"] = keys.PublicFile
		env["ISTHMUS_OPS_ISSUER"] = devtoken.Issuer
	}
	return token, ops, nil
}

// listenURL is the host:port a person reaches a listener on: the setting's
// value (or its default), with an empty host shown as localhost.
func listenURL(env, def string) string {
	addr, ok := lookupEnv(env)
	if !ok || addr == "" {
		addr = def
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
