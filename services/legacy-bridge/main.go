// Command legacy-bridge runs the legacy ERP adapter; see package legacybridge.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/legacy-bridge/legacybridge"
)

func main() { os.Exit(lifecycle.Program(legacybridge.Name, &legacybridge.Config{}, legacybridge.Run)) }
