// Package openapi embeds the OpenAPI v2 document generated from proto/ (make
// generate-proto writes gateway.swagger.json; make check-generated-proto checks it).
package openapi

import _ "embed"

// Spec is the OpenAPI v2 (Swagger) document of the gateway's REST API.
//
//go:embed gateway.swagger.json
var Spec []byte
