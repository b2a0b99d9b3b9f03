# syntax=docker/dockerfile:1
#
# Every Isthmus image, from the repository root (the Go workspace spans pkg/, cmd/
# and services/, so the build context must hold them all). PROGRAM names the image's
# program: isthmus (the operator CLI) or a service, by its folder under services/.
#
#   docker build --build-arg PROGRAM=quote-to-order -t isthmus/quote-to-order .
#   docker build --build-arg PROGRAM=isthmus -t isthmus/cli .
#
# The build stage is the same for every image (it builds every program), so
# `docker compose build` compiles once and each image copies its own binary.
#
# The images are FROM scratch: a static binary, CA certificates for TLS to Kafka,
# the schema registry and Redis, and no shell. The isthmus CLI is in every image,
# so that orchestrators without an HTTP probe (docker compose) can run
#   /isthmus healthcheck http://localhost:9464/readyz
# as a service container's health check.

ARG GO_VERSION=1.26
# The program of the image; it picks the last stage below (isthmus or a service).
ARG PROGRAM=isthmus

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY . .
# deploy/validate (offline checks of these deployment files, with heavy
# Kubernetes and Helm dependencies) is not part of any image and is excluded by
# .dockerignore; drop it from the workspace. The cache mounts keep downloaded
# modules and the build cache between builds.
RUN go work edit -dropuse=./deploy/validate
RUN --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w -buildid=" -o /out/ ./cmd/isthmus ./services/*/
# An empty directory, copied as the mount point of a volume the service writes.
RUN mkdir /empty

# What every image holds: CA certificates, the CLI, a non-root user.
FROM scratch AS runtime
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/isthmus /isthmus
USER 65532:65532

# The CLI image: provisions topics and schemas before the services start
# (docker-compose.yml, the Helm chart's jobs):
#   docker run --rm -e ISTHMUS_KAFKA_BROKERS=... isthmus/cli topics apply
#   docker run --rm -e ISTHMUS_SCHEMA_REGISTRY_URL=... isthmus/cli schemas apply
# The catalog (schemas/topics.yaml and the .avsc files) is copied to /schemas and
# the working directory is /, so the CLI's default relative path "schemas" finds it.
FROM runtime AS isthmus
COPY --from=build /src/schemas /schemas
WORKDIR /
ENTRYPOINT ["/isthmus"]

# A service image: its binary next to the CLI, and the admin listener.
FROM runtime AS service
ARG PROGRAM
COPY --from=build /out/${PROGRAM} /${PROGRAM}
ENV ISTHMUS_ADMIN_ADDR=:9464
# 9464: admin listener (/metrics, /healthz, /readyz)
EXPOSE 9464

# One stage per service: its entrypoint and the ports it listens on besides 9464.
FROM service AS billing-bridge
ENTRYPOINT ["/billing-bridge"]

FROM service AS customer-sync
ENTRYPOINT ["/customer-sync"]

FROM service AS erp-simulator
# The legacy ERP's drop folder (ISTHMUS_SIM_LEGACY_DIR), as legacy-bridge's below.
COPY --from=build --chown=65532:65532 /empty /var/lib/isthmus/legacy
ENTRYPOINT ["/erp-simulator"]

FROM service AS field-service
ENTRYPOINT ["/field-service"]

FROM service AS legacy-bridge
# The drop folder shared with the legacy ERP (ISTHMUS_LEGACY_DIR): its mount point
# is owned by the image's user, so an empty named volume mounted there (Docker
# copies the directory's ownership into it) is writable by the service.
COPY --from=build --chown=65532:65532 /empty /var/lib/isthmus/legacy
ENTRYPOINT ["/legacy-bridge"]

FROM service AS gateway
# 9090: gRPC (pricing, credit, availability); 8080: REST (grpc-gateway)
EXPOSE 9090 8080
ENTRYPOINT ["/gateway"]

FROM service AS quote-to-order
ENTRYPOINT ["/quote-to-order"]

FROM service AS reconciler
# 8088: operations dashboard
EXPOSE 8088
ENTRYPOINT ["/reconciler"]

# The image: the stage PROGRAM names.
FROM ${PROGRAM}
