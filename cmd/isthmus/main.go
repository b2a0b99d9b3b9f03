// Command isthmus is the operator CLI of Isthmus: the embedded development
// suite, topic and schema provisioning, DLQ and exception handling, load
// generation and reconciliation reports.
package main

import (
	"os"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/asyncapi"
	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
)

// commands is the table of verbs; each lives in its own package.
var commands = []cli.Command{
	{Name: "asyncapi", Summary: "write the AsyncAPI 3 document of every topic", Run: asyncapi.Run},
	{Name: "healthcheck", Summary: "GET a URL and exit 0 on 2xx (container health checks)", Run: healthcheck},
}

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, commands)) }
