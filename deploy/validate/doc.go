// Package validate checks the deployment files of Isthmus offline, with the
// real libraries of each tool: the Helm chart (lint, template rendering,
// values.schema.json, strict decoding of every rendered object into the
// Kubernetes API types), docker-compose.yml (compose-go), the Dockerfile
// (BuildKit's parser) and the Grafana dashboard (every metric it queries must be
// one the services export).
//
// It is its own module so that Helm, Kubernetes and compose dependencies stay
// out of the services. Everything runs as plain `go test`: no Docker engine,
// cluster or network.
package validate
