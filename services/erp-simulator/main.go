// Command erp-simulator runs the erp-simulator service; see package erpsimulator.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/erp-simulator/erpsimulator"
)

func main() { os.Exit(lifecycle.Program(erpsimulator.Name, &erpsimulator.Config{}, erpsimulator.Run)) }
