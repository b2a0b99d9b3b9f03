// Command asyncapi runs `isthmus asyncapi` on its own, for make
// generate-asyncapi before the CLI wires the verb.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/asyncapi"
)

func main() {
	if err := asyncapi.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
