// Command reconciler runs the reconciler service; see package reconciler.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/reconciler/reconciler"
)

func main() { os.Exit(lifecycle.Program(reconciler.Name, &reconciler.Config{}, reconciler.Run)) }
