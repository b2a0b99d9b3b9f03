// Command isthmus is the operator CLI of Isthmus: the embedded development
// suite, topic and schema provisioning, DLQ and exception handling, load
// generation, reconciliation reports, and the routing modes and parity of
// a phased ERP modernization.
package main

import (
	"os"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/asyncapi"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/dev"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/devtoken"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/dlq"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/exceptions"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/flows"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/loadgen"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/produce"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/recon"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/registry"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/schemas"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/topics"
)

// commands is the table of verbs; each lives in its own package.
var commands = []cli.Command{
	{Name: "asyncapi", Summary: "write the AsyncAPI 3 document of every topic", Run: asyncapi.Run},
	{Name: "dev", Summary: "the whole suite in one process with simulated traffic (make run)", Run: dev.Run},
	{Name: "dev-token", Summary: "mint a bearer token from the dev issuer: gateway scopes or operator roles (dev-token --subject --scopes ...)", Run: devtoken.Run},
	{Name: "dlq", Summary: "inspect dead-letter topics; replay fixed messages to their service's retry topic (dlq list|show|replay)", Run: dlq.Run},
	{Name: "exceptions", Summary: "exception queues and decisions through the operations API (exceptions list|show|resolve|retry|...|approve)", Run: exceptions.Run},
	{Name: "flows", Summary: "the routed ERP flows and their path (legacy, shadow, new); flows set <flow> <mode> through the operations API", Run: flows.Run},
	{Name: "healthcheck", Summary: "GET a URL and exit 0 on 2xx (container health checks)", Run: healthcheck},
	{Name: "loadgen", Summary: "produce realistic CRM traffic to any cluster (loadgen --scenario --rate --duration)", Run: loadgen.Run},
	{Name: "produce", Summary: "JSON lines to Avro records on a catalog topic (produce --topic T --file F [--dry-run])", Run: produce.Run},
	{Name: "recon", Summary: "reconciliation breaks and reports over a window (recon report --since 24h); cutover readiness (recon parity --flow orders)", Run: recon.Run},
	{Name: "registry", Summary: "serve the development schema registry (registry serve)", Run: registry.Run},
	{Name: "schemas", Summary: "register value schemas and gate changes (schemas apply|check)", Run: schemas.Run},
	{Name: "topics", Summary: "create/alter topics from the catalog (topics apply)", Run: topics.Run},
}

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, commands)) }
