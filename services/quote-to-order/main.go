// Command quote-to-order runs the quote-to-order service; see package quotetoorder.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/quote-to-order/quotetoorder"
)

func main() { os.Exit(lifecycle.Program(quotetoorder.Name, &quotetoorder.Config{}, quotetoorder.Run)) }
