// Command gateway runs the pricing, credit and availability gateway; see package gateway.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/gateway/gateway"
)

func main() { os.Exit(lifecycle.Program(gateway.Name, &gateway.Config{}, gateway.Run)) }
