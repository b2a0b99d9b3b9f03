// Package registry is `isthmus registry serve`: the development schema
// registry (pkg/schemaregistry) on its own.
package registry

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
	"github.com/isthmus/isthmus/pkg/compat"
	"github.com/isthmus/isthmus/pkg/schemaregistry"
)

// Run dispatches the sub-verb.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return verbs.Run(ctx, args, stdout, stderr)
}

// verbs are the sub-verbs.
var verbs = cli.Dispatcher{Path: "isthmus registry", Commands: []cli.Command{
	{Name: "serve", Summary: "serve the development schema registry (Confluent REST subset)", Run: serve},
}}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: isthmus registry serve [--listen ADDR] [--data-file FILE] [flags]")
		fmt.Fprintln(stderr, "Serves the development schema registry (Confluent REST subset; 409 on incompatible registrations).")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", ":8081", "address to listen on")
	dataFile := fs.String("data-file", "", "persist subjects and schemas to this JSON file (default: in memory only)")
	level := fs.String("compatibility", string(compat.Backward), "global compatibility level")
	user := fs.String("user", os.Getenv("ISTHMUS_SCHEMA_REGISTRY_USER"), "require HTTP basic auth with this user (env ISTHMUS_SCHEMA_REGISTRY_USER)")
	password := fs.String("password", os.Getenv("ISTHMUS_SCHEMA_REGISTRY_PASSWORD"), "basic auth password (env ISTHMUS_SCHEMA_REGISTRY_PASSWORD)")
	token := fs.String("token", os.Getenv("ISTHMUS_SCHEMA_REGISTRY_TOKEN"), "require this bearer token (env ISTHMUS_SCHEMA_REGISTRY_TOKEN)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	mode, err := compat.ParseMode(*level)
	if err != nil {
		return fmt.Errorf("--compatibility: %v", err)
	}
	if *user != "" && *password == "" {
		return errors.New("--user needs --password (or ISTHMUS_SCHEMA_REGISTRY_PASSWORD)")
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	opts := []schemaregistry.Option{schemaregistry.DefaultCompatibility(mode), schemaregistry.Logger(log)}
	if *dataFile != "" {
		opts = append(opts, schemaregistry.DataFile(*dataFile))
	}
	if *user != "" {
		opts = append(opts, schemaregistry.BasicAuth(*user, *password))
	}
	if *token != "" {
		opts = append(opts, schemaregistry.BearerToken(*token))
	}
	reg, err := schemaregistry.New(opts...)
	if err != nil {
		return err
	}
	srv := reg.Server(*listen)
	if err := srv.Listen(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema registry listening on %s\n", srv.Addr())
	return srv.Run(ctx)
}
