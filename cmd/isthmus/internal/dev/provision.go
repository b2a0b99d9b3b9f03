package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/provision"
)

// provisionAll applies the catalog's topics and schemas, as the Helm hook Jobs
// do for a deployment.
func provisionAll(ctx context.Context, common *config.Common, log *slog.Logger, stdout io.Writer) error {
	cat, err := catalog.Embedded()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := common.Kafka.Preflight(ctx, 15*time.Second); err != nil {
		return err
	}
	cl, err := common.Kafka.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	plan, err := provision.Topics(ctx, cl, common.Kafka.TopicPrefix, cat.Topics(), -1, false)
	if err != nil {
		return fmt.Errorf("topics: %w", common.Kafka.Explain(err))
	}
	rc, err := common.Registry.Client()
	if err != nil {
		return err
	}
	res, err := provision.Schemas(ctx, rc, common.Kafka.TopicPrefix, cat.Topics(), false)
	if err != nil {
		return fmt.Errorf("schemas: %w", err)
	}
	log.Info("provisioned", "topics", len(plan), "subjects", len(res))
	fmt.Fprintf(stdout, "provisioned      %d topics, %d schema subjects\n", len(plan), len(res))
	return nil
}
