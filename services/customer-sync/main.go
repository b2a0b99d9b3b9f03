// Command customer-sync runs the customer-sync service; see package customersync.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/customer-sync/customersync"
)

func main() { os.Exit(lifecycle.Program(customersync.Name, &customersync.Config{}, customersync.Run)) }
