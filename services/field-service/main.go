// Command field-service runs the field-service service; see package fieldservice.
package main

import (
	"os"

	"github.com/isthmus/isthmus/pkg/lifecycle"
	"github.com/isthmus/isthmus/services/field-service/fieldservice"
)

func main() { os.Exit(lifecycle.Program(fieldservice.Name, &fieldservice.Config{}, fieldservice.Run)) }
