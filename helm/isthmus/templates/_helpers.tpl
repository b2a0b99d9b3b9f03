{{/*
Chart full name: <release>-isthmus, or the release name when it already contains
the chart name. Truncated to 63 characters (DNS label).
*/}}
{{- define "isthmus.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>. Call with (dict "root" $ "name" "gateway"). */}}
{{- define "isthmus.componentName" -}}
{{- printf "%s-%s" (include "isthmus.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "isthmus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels for one component. Call with (dict "root" $ "name" "gateway"). */}}
{{- define "isthmus.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Common labels for one component. Call with (dict "root" $ "name" "gateway"). */}}
{{- define "isthmus.labels" -}}
helm.sh/chart: {{ include "isthmus.chart" .root }}
{{ include "isthmus.selectorLabels" . }}
app.kubernetes.io/part-of: isthmus
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Labels selecting every pod of this release (for NetworkPolicy peers). */}}
{{- define "isthmus.releaseSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "isthmus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "isthmus.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image of one binary. Call with (dict "root" $ "name" "gateway"). */}}
{{- define "isthmus.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .name (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{/*
Container ports each binary listens on, fixed by the Isthmus contracts: every
binary has the admin listener (metrics, health); the gateway serves gRPC and
REST, the reconciler its operations dashboard.
*/}}
{{- define "isthmus.ports" -}}
- name: admin
  containerPort: 9464
  protocol: TCP
{{- if eq .name "gateway" }}
- name: grpc
  containerPort: 9090
  protocol: TCP
- name: http
  containerPort: 8080
  protocol: TCP
{{- end }}
{{- if eq .name "reconciler" }}
- name: dashboard
  containerPort: 8088
  protocol: TCP
{{- end }}
{{- end -}}

{{/*
Stateful services run as StatefulSets: a pod keeps its name (<release>-<service>-N)
across restarts, and that name is its ISTHMUS_INSTANCE_ID with
ISTHMUS_INSTANCE_STABLE=true (static group membership, stable transactional ids).
The gateway and the simulator hold no partitioned state and stay Deployments.
*/}}
{{- define "isthmus.stateful" -}}
{{- if has . (list "customer-sync" "quote-to-order" "billing-bridge" "field-service" "reconciler" "legacy-bridge") }}true{{ end -}}
{{- end -}}

{{/*
Where legacy-bridge mounts its drop folder (legacyBridge.dropFolder), passed to
it as ISTHMUS_LEGACY_DIR. The images of legacy-bridge and erp-simulator create
this directory owned by their user, for docker-compose.yml's named volume.
*/}}
{{- define "isthmus.legacyDir" -}}
/var/lib/isthmus/legacy
{{- end -}}

{{/*
Services that call the gateway's gRPC API (ISTHMUS_GATEWAY_ADDR), each with its
own OAuth2 client: quote-to-order (price, credit, availability) and
field-service (entitlement, asset lookup).
*/}}
{{- define "isthmus.gatewayCaller" -}}
{{- if has . (list "quote-to-order" "field-service") }}true{{ end -}}
{{- end -}}

{{/*
The OAuth2 client of a service that calls the gateway, as YAML: the Secret with
its id and secret, and its scopes. Call with (dict "root" $ "name" N).
*/}}
{{- define "isthmus.oauthClient" -}}
{{- $o := .root.Values.serviceCredentials.oauth -}}
{{- if eq .name "field-service" -}}
existingSecret: {{ $o.fieldService.existingSecret | quote }}
scope: {{ $o.fieldService.scope | quote }}
{{- else -}}
existingSecret: {{ $o.existingSecret | quote }}
scope: {{ $o.scope | quote }}
{{- end -}}
{{- end -}}

{{- define "isthmus.workloadKind" -}}
{{- if include "isthmus.stateful" . }}StatefulSet{{ else }}Deployment{{ end -}}
{{- end -}}

{{/* One env entry from a Secret key. Call with (dict "env" NAME "secret" S "key" K). */}}
{{- define "isthmus.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end -}}

{{/* Environment shared by every binary (services and provisioning Jobs): Kafka, schema registry, Redis, prefix, tracing. */}}
{{- define "isthmus.commonEnv" -}}
{{- $v := .Values -}}
- name: ISTHMUS_KAFKA_BROKERS
  value: {{ join "," $v.kafka.brokers | quote }}
- name: ISTHMUS_TOPIC_PREFIX
  value: {{ $v.topicPrefix | quote }}
- name: ISTHMUS_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: ISTHMUS_ADMIN_ADDR
  value: ":9464"
{{- if $v.kafka.tls.enabled }}
- name: ISTHMUS_KAFKA_TLS_ENABLED
  value: "true"
{{- with $v.kafka.tls.serverName }}
- name: ISTHMUS_KAFKA_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if and $v.kafka.tls.existingSecret $v.kafka.tls.caKey }}
- name: ISTHMUS_KAFKA_TLS_CA_FILE
  value: /etc/isthmus/kafka-tls/ca.crt
{{- end }}
{{- if and $v.kafka.tls.existingSecret $v.kafka.tls.certKey }}
- name: ISTHMUS_KAFKA_TLS_CERT_FILE
  value: /etc/isthmus/kafka-tls/tls.crt
- name: ISTHMUS_KAFKA_TLS_KEY_FILE
  value: /etc/isthmus/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- $sasl := $v.kafka.sasl }}
{{- if $sasl.mechanism }}
- name: ISTHMUS_KAFKA_SASL_MECHANISM
  value: {{ $sasl.mechanism | quote }}
{{- if eq $sasl.mechanism "OAUTHBEARER" }}
- name: ISTHMUS_KAFKA_SASL_OAUTH_TOKEN_URL
  value: {{ $sasl.oauth.tokenUrl | quote }}
{{- with $sasl.oauth.audience }}
- name: ISTHMUS_KAFKA_SASL_OAUTH_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- with $sasl.oauth.scope }}
- name: ISTHMUS_KAFKA_SASL_OAUTH_SCOPE
  value: {{ . | quote }}
{{- end }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_ID" "secret" $sasl.existingSecret "key" $sasl.oauth.clientIdKey) }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_KAFKA_SASL_OAUTH_CLIENT_SECRET" "secret" $sasl.existingSecret "key" $sasl.oauth.clientSecretKey) }}
{{- else }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_KAFKA_SASL_USER" "secret" $sasl.existingSecret "key" $sasl.usernameKey) }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_KAFKA_SASL_PASSWORD" "secret" $sasl.existingSecret "key" $sasl.passwordKey) }}
{{- end }}
{{- end }}
- name: ISTHMUS_SCHEMA_REGISTRY_URL
  value: {{ $v.schemaRegistry.url | quote }}
{{- with $v.schemaRegistry.auth.existingSecret }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_SCHEMA_REGISTRY_USER" "secret" . "key" $v.schemaRegistry.auth.usernameKey) }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_SCHEMA_REGISTRY_PASSWORD" "secret" . "key" $v.schemaRegistry.auth.passwordKey) }}
{{- end }}
{{- if $v.schemaRegistry.tls.existingSecret }}
- name: ISTHMUS_SCHEMA_REGISTRY_CA_FILE
  value: /etc/isthmus/registry-tls/ca.crt
{{- end }}
{{- if $v.redis.existingSecret }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_REDIS_URL" "secret" $v.redis.existingSecret "key" $v.redis.urlKey) }}
{{- else if $v.redis.url }}
- name: ISTHMUS_REDIS_URL
  value: {{ $v.redis.url | quote }}
{{- end }}
{{- if $v.redis.tls.existingSecret }}
- name: ISTHMUS_REDIS_TLS_CA_FILE
  value: /etc/isthmus/redis-tls/ca.crt
{{- end }}
{{- with $v.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
Environment of one service beyond the common one: its identity, listen
addresses, and the gateway's and its callers' security settings. Call with
(dict "root" $ "name" "gateway").
*/}}
{{- define "isthmus.serviceEnv" -}}
{{- $v := .root.Values -}}
{{- if include "isthmus.stateful" .name }}
- name: ISTHMUS_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: ISTHMUS_INSTANCE_STABLE
  value: "true"
{{- end }}
{{- if eq .name "gateway" }}
{{- $a := $v.gateway.auth }}
- name: ISTHMUS_GATEWAY_GRPC_ADDR
  value: ":9090"
- name: ISTHMUS_GATEWAY_HTTP_ADDR
  value: ":8080"
{{- with $a.jwksUrl }}
- name: ISTHMUS_GATEWAY_JWKS_URL
  value: {{ . | quote }}
- name: ISTHMUS_GATEWAY_JWKS_REFRESH
  value: {{ $a.jwksRefresh | quote }}
{{- end }}
{{- if $a.publicKeys.existingSecret }}
- name: ISTHMUS_GATEWAY_JWKS_FILE
  value: /etc/isthmus/gateway-auth/keys
{{- end }}
{{- with $a.issuer }}
- name: ISTHMUS_GATEWAY_JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with $a.audience }}
- name: ISTHMUS_GATEWAY_JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- if $v.gateway.tls.enabled }}
- name: ISTHMUS_GATEWAY_TLS_CERT_FILE
  value: /etc/isthmus/gateway-tls/tls.crt
- name: ISTHMUS_GATEWAY_TLS_KEY_FILE
  value: /etc/isthmus/gateway-tls/tls.key
{{- if $v.gateway.tls.clientCA.existingSecret }}
- name: ISTHMUS_GATEWAY_TLS_CLIENT_CA_FILE
  value: /etc/isthmus/gateway-client-ca/ca.crt
{{- end }}
{{- end }}
{{- end }}
{{- if eq .name "reconciler" }}
{{- $oa := $v.operations.auth }}
{{- with $oa.jwksUrl }}
- name: ISTHMUS_OPS_JWKS_URL
  value: {{ . | quote }}
- name: ISTHMUS_OPS_JWKS_REFRESH
  value: {{ $oa.jwksRefresh | quote }}
{{- end }}
{{- with $oa.issuer }}
- name: ISTHMUS_OPS_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with $oa.audience }}
- name: ISTHMUS_OPS_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- with $oa.rolesClaim }}
- name: ISTHMUS_OPS_ROLES_CLAIM
  value: {{ . | quote }}
{{- end }}
- name: ISTHMUS_OPS_FOUR_EYES_MINOR
  value: {{ $v.operations.fourEyesMinor | int64 | toString | quote }}
{{- end }}
{{- if include "isthmus.gatewayCaller" .name }}
{{- $o := $v.serviceCredentials.oauth }}
{{- $client := include "isthmus.oauthClient" . | fromYaml }}
- name: ISTHMUS_GATEWAY_ADDR
  value: {{ printf "%s:9090" (include "isthmus.componentName" (dict "root" .root "name" "gateway")) | quote }}
{{- if $o.tokenUrl }}
- name: ISTHMUS_OAUTH_TOKEN_URL
  value: {{ $o.tokenUrl | quote }}
{{- with $o.audience }}
- name: ISTHMUS_OAUTH_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- with $client.scope }}
- name: ISTHMUS_OAUTH_SCOPE
  value: {{ . | quote }}
{{- end }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_OAUTH_CLIENT_ID" "secret" $client.existingSecret "key" $o.clientIdKey) }}
{{ include "isthmus.secretEnv" (dict "env" "ISTHMUS_OAUTH_CLIENT_SECRET" "secret" $client.existingSecret "key" $o.clientSecretKey) }}
{{- end }}
{{- if $v.gateway.tls.enabled }}
{{- $g := $v.serviceCredentials.gatewayTLS }}
- name: ISTHMUS_GATEWAY_TLS_ENABLED
  value: "true"
{{- if and $g.existingSecret $g.caKey }}
- name: ISTHMUS_GATEWAY_TLS_CA_FILE
  value: /etc/isthmus/gateway-client/ca.crt
{{- end }}
{{- if and $g.existingSecret $g.certKey }}
- name: ISTHMUS_GATEWAY_TLS_CERT_FILE
  value: /etc/isthmus/gateway-client/tls.crt
- name: ISTHMUS_GATEWAY_TLS_KEY_FILE
  value: /etc/isthmus/gateway-client/tls.key
{{- end }}
{{- end }}
{{- end }}
{{- if eq .name "reconciler" }}
- name: ISTHMUS_RECON_DASHBOARD_ADDR
  value: ":8088"
{{- end }}
{{- if and (eq .name "customer-sync") (include "isthmus.ownershipConfigMap" .root) }}
- name: ISTHMUS_CUSTOMER_SYNC_OWNERSHIP_FILE
  value: /etc/isthmus/ownership/ownership.yaml
{{- end }}
{{- if eq .name "legacy-bridge" }}
- name: ISTHMUS_LEGACY_DIR
  value: {{ include "isthmus.legacyDir" . | quote }}
{{- end }}
{{- end -}}

{{/* Name of the ConfigMap with customer-sync's ownership file, or empty. */}}
{{- define "isthmus.ownershipConfigMap" -}}
{{- $o := .Values.customerSync.ownership -}}
{{- if $o.existingConfigMap -}}
{{- $o.existingConfigMap -}}
{{- else if $o.config -}}
{{- include "isthmus.componentName" (dict "root" . "name" "ownership") -}}
{{- end -}}
{{- end -}}

{{/* A Secret volume with fixed file names. Call with (dict "name" N "secret" S "items" (list (list KEY PATH) ...)). */}}
{{- define "isthmus.secretVolume" -}}
name: {{ .name }}
secret:
  secretName: {{ .secret }}
  defaultMode: 0440
  items:
{{- range .items }}
    - key: {{ index . 0 }}
      path: {{ index . 1 }}
{{- end }}
{{- end -}}

{{/*
Volumes of one pod and where they are mounted, as a list of
(dict "name" ... "mountPath" ... "volume" ...), with "writable": true for the
few a service writes (everything else is mounted read-only) and an optional
"subPath". Call with (dict "root" $ "name" N); the provisioning Jobs pass their
own name and get the common ones only.
*/}}
{{- define "isthmus.volumeList" -}}
{{- $v := .root.Values -}}
{{- $tls := $v.kafka.tls -}}
- name: tmp
  mountPath: /tmp
  writable: true
  volume:
    name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- if and $tls.enabled $tls.existingSecret }}
{{- $items := list }}
{{- if $tls.caKey }}{{ $items = append $items (list $tls.caKey "ca.crt") }}{{ end }}
{{- if $tls.certKey }}{{ $items = concat $items (list (list $tls.certKey "tls.crt") (list $tls.keyKey "tls.key")) }}{{ end }}
- name: kafka-tls
  mountPath: /etc/isthmus/kafka-tls
  volume:
    {{- include "isthmus.secretVolume" (dict "name" "kafka-tls" "secret" $tls.existingSecret "items" $items) | nindent 4 }}
{{- end }}
{{- with $v.schemaRegistry.tls.existingSecret }}
- name: registry-tls
  mountPath: /etc/isthmus/registry-tls
  volume:
    {{- include "isthmus.secretVolume" (dict "name" "registry-tls" "secret" . "items" (list (list $v.schemaRegistry.tls.caKey "ca.crt"))) | nindent 4 }}
{{- end }}
{{- with $v.redis.tls.existingSecret }}
- name: redis-tls
  mountPath: /etc/isthmus/redis-tls
  volume:
    {{- include "isthmus.secretVolume" (dict "name" "redis-tls" "secret" . "items" (list (list $v.redis.tls.caKey "ca.crt"))) | nindent 4 }}
{{- end }}
{{- if eq .name "gateway" }}
{{- with $v.gateway.auth.publicKeys.existingSecret }}
- name: gateway-auth
  mountPath: /etc/isthmus/gateway-auth
  volume:
    {{- include "isthmus.secretVolume" (dict "name" "gateway-auth" "secret" . "items" (list (list $v.gateway.auth.publicKeys.key "keys"))) | nindent 4 }}
{{- end }}
{{- if $v.gateway.tls.enabled }}
- name: gateway-tls
  mountPath: /etc/isthmus/gateway-tls
  volume:
    {{- include "isthmus.secretVolume" (dict "name" "gateway-tls" "secret" $v.gateway.tls.existingSecret "items" (list (list $v.gateway.tls.certKey "tls.crt") (list $v.gateway.tls.keyKey "tls.key"))) | nindent 4 }}
{{- with $v.gateway.tls.clientCA.existingSecret }}
- name: gateway-client-ca
  mountPath: /etc/isthmus/gateway-client-ca
  volume:
    {{- include "isthmus.secretVolume" (dict "name" "gateway-client-ca" "secret" . "items" (list (list $v.gateway.tls.clientCA.key "ca.crt"))) | nindent 4 }}
{{- end }}
{{- end }}
{{- end }}
{{- $g := $v.serviceCredentials.gatewayTLS }}
{{- if and (include "isthmus.gatewayCaller" .name) $v.gateway.tls.enabled $g.existingSecret }}
{{- $items := list }}
{{- if $g.caKey }}{{ $items = append $items (list $g.caKey "ca.crt") }}{{ end }}
{{- if $g.certKey }}{{ $items = concat $items (list (list $g.certKey "tls.crt") (list $g.keyKey "tls.key")) }}{{ end }}
- name: gateway-client
  mountPath: /etc/isthmus/gateway-client
  volume:
    {{- include "isthmus.secretVolume" (dict "name" "gateway-client" "secret" $g.existingSecret "items" $items) | nindent 4 }}
{{- end }}
{{- if eq .name "customer-sync" }}
{{- with include "isthmus.ownershipConfigMap" .root }}
- name: ownership
  mountPath: /etc/isthmus/ownership
  volume:
    name: ownership
    configMap:
      name: {{ . }}
      items:
        - key: {{ $v.customerSync.ownership.key }}
          path: ownership.yaml
{{- end }}
{{- end }}
{{- if eq .name "legacy-bridge" }}
{{- $d := $v.legacyBridge.dropFolder }}
- name: drop-folder
  mountPath: {{ include "isthmus.legacyDir" . }}
  writable: true
  {{- with $d.subPath }}
  subPath: {{ . | quote }}
  {{- end }}
  volume:
    name: drop-folder
    persistentVolumeClaim:
      claimName: {{ $d.existingClaim | quote }}
{{- end }}
{{- end -}}

{{/* The pod's volumes. Call with (dict "root" $ "name" N). */}}
{{- define "isthmus.volumes" -}}
{{- range fromYamlArray (include "isthmus.volumeList" .) }}
- {{ toYaml .volume | indent 2 | trim }}
{{- end }}
{{- end -}}

{{/* The container's mounts (read-only but those marked writable). Call with (dict "root" $ "name" N). */}}
{{- define "isthmus.volumeMounts" -}}
{{- range fromYamlArray (include "isthmus.volumeList" .) }}
- name: {{ .name }}
  mountPath: {{ .mountPath }}
  {{- with .subPath }}
  subPath: {{ . | quote }}
  {{- end }}
  {{- if not .writable }}
  readOnly: true
  {{- end }}
{{- end }}
{{- end -}}

{{/* Fail rendering on combinations values.schema.json cannot express. */}}
{{- define "isthmus.validate" -}}
{{- $v := .Values -}}
{{- if and $v.kafka.sasl.mechanism (not $v.kafka.sasl.existingSecret) -}}
{{- fail "kafka.sasl.existingSecret is required when kafka.sasl.mechanism is set" -}}
{{- end -}}
{{- if and $v.kafka.tls.certKey (not $v.kafka.tls.keyKey) -}}
{{- fail "kafka.tls.keyKey is required when kafka.tls.certKey is set (mutual TLS)" -}}
{{- end -}}
{{- if and $v.kafka.tls.certKey (not $v.kafka.tls.existingSecret) -}}
{{- fail "kafka.tls.existingSecret is required when kafka.tls.certKey is set (mutual TLS)" -}}
{{- end -}}
{{- if and (eq $v.kafka.sasl.mechanism "OAUTHBEARER") (not $v.kafka.sasl.oauth.tokenUrl) -}}
{{- fail "kafka.sasl.oauth.tokenUrl is required when kafka.sasl.mechanism is OAUTHBEARER" -}}
{{- end -}}
{{- if and $v.gateway.tls.enabled (not $v.gateway.tls.existingSecret) -}}
{{- fail "gateway.tls.existingSecret is required when gateway.tls.enabled is true" -}}
{{- end -}}
{{- if and $v.gateway.tls.clientCA.existingSecret (not $v.gateway.tls.enabled) -}}
{{- fail "gateway.tls.clientCA needs gateway.tls.enabled: mutual TLS runs over the gateway's TLS" -}}
{{- end -}}
{{- if and $v.serviceCredentials.oauth.tokenUrl (not $v.serviceCredentials.oauth.existingSecret) -}}
{{- fail "serviceCredentials.oauth.existingSecret (client id and secret) is required when serviceCredentials.oauth.tokenUrl is set" -}}
{{- end -}}
{{- if and $v.serviceCredentials.oauth.tokenUrl (index $v.services "field-service").enabled (not $v.serviceCredentials.oauth.fieldService.existingSecret) -}}
{{- fail "serviceCredentials.oauth.fieldService.existingSecret (field-service's client id and secret) is required when serviceCredentials.oauth.tokenUrl is set and field-service is enabled" -}}
{{- end -}}
{{- if and $v.serviceCredentials.gatewayTLS.certKey (not $v.serviceCredentials.gatewayTLS.keyKey) -}}
{{- fail "serviceCredentials.gatewayTLS.keyKey is required when serviceCredentials.gatewayTLS.certKey is set" -}}
{{- end -}}
{{- if and $v.gateway.tls.clientCA.existingSecret (or (index $v.services "quote-to-order").enabled (index $v.services "field-service").enabled) (not $v.serviceCredentials.gatewayTLS.certKey) -}}
{{- fail "serviceCredentials.gatewayTLS.certKey is required: the gateway requires client certificates (gateway.tls.clientCA) and quote-to-order and field-service call it" -}}
{{- end -}}
{{- if and $v.customerSync.ownership.config $v.customerSync.ownership.existingConfigMap -}}
{{- fail "customerSync.ownership: set config or existingConfigMap, not both" -}}
{{- end -}}
{{- if and (index $v.services "legacy-bridge").enabled (not $v.legacyBridge.dropFolder.existingClaim) -}}
{{- fail "legacyBridge.dropFolder.existingClaim is required when services.legacy-bridge.enabled is true: the ReadWriteMany PersistentVolumeClaim of the drop folder it shares with the legacy ERP's file gateway (docs/legacy-bridge.md)" -}}
{{- end -}}
{{- range $name, $svc := $v.services -}}
{{- if and $svc.enabled $svc.autoscaling.keda.enabled (not $v.keda.prometheusServerAddress) -}}
{{- fail (printf "keda.prometheusServerAddress is required: services.%s.autoscaling.keda.enabled is true" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
