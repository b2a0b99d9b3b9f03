package dev

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/isthmus/isthmus/pkg/schemaregistry"
)

// embedded is the infrastructure `isthmus dev` starts in-process when no
// real one is configured: a Kafka-protocol broker (kfake), the development
// schema registry and a Redis-protocol store (miniredis).
type embedded struct {
	kafka    *kfake.Cluster
	registry *schemaregistry.Registry
	stopReg  func()
	redis    *miniredis.Miniredis
}

func startKafka(addr, dataDir string) (*kfake.Cluster, error) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port)}
	if dataDir != "" {
		dir := filepath.Join(dataDir, "kafka")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", addr, err)
	}
	return c, nil
}

// startRegistry serves the registry on addr until ctx ends or stop is
// called; stop returns once it has stopped.
func startRegistry(ctx context.Context, addr, dataDir string, log *slog.Logger) (reg *schemaregistry.Registry, stop func(), err error) {
	var opts []schemaregistry.Option
	opts = append(opts, schemaregistry.Logger(log))
	if dataDir != "" {
		opts = append(opts, schemaregistry.DataFile(filepath.Join(dataDir, "registry.json")))
	}
	reg, err = schemaregistry.New(opts...)
	if err != nil {
		return nil, nil, err
	}
	srv := reg.Server(addr)
	if err := srv.Listen(); err != nil {
		return nil, nil, fmt.Errorf("embedded %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	return reg, func() { cancel(); <-done }, nil
}

func startRedis(addr string) (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("embedded Redis-protocol store on %s: %w", addr, err)
	}
	return m, nil
}

func (e *embedded) close() {
	if e.redis != nil {
		e.redis.Close()
	}
	if e.stopReg != nil {
		e.stopReg()
	}
	if e.kafka != nil {
		e.kafka.Close()
	}
}
