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

{{/* Environment shared by every binary: Kafka, schema registry, Redis, prefix. */}}
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
{{- if $v.kafka.sasl.mechanism }}
- name: ISTHMUS_KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: ISTHMUS_KAFKA_SASL_USER
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.usernameKey }}
- name: ISTHMUS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- end }}
- name: ISTHMUS_SCHEMA_REGISTRY_URL
  value: {{ $v.schemaRegistry.url | quote }}
{{- with $v.schemaRegistry.auth.existingSecret }}
- name: ISTHMUS_SCHEMA_REGISTRY_USER
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.schemaRegistry.auth.usernameKey }}
- name: ISTHMUS_SCHEMA_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.schemaRegistry.auth.passwordKey }}
{{- end }}
{{- if $v.redis.existingSecret }}
- name: ISTHMUS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.existingSecret }}
      key: {{ $v.redis.urlKey }}
{{- else if $v.redis.url }}
- name: ISTHMUS_REDIS_URL
  value: {{ $v.redis.url | quote }}
{{- end }}
{{- end -}}

{{/* Volumes every pod mounts: a writable /tmp (the root fs is read-only) and the Kafka TLS Secret. */}}
{{- define "isthmus.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- $tls := .Values.kafka.tls }}
{{- if and $tls.enabled $tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $tls.existingSecret }}
    defaultMode: 0440
    items:
{{- if $tls.caKey }}
      - key: {{ $tls.caKey }}
        path: ca.crt
{{- end }}
{{- if $tls.certKey }}
      - key: {{ $tls.certKey }}
        path: tls.crt
      - key: {{ $tls.keyKey }}
        path: tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "isthmus.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/isthmus/kafka-tls
  readOnly: true
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
{{- range $name, $svc := $v.services -}}
{{- if and $svc.enabled $svc.autoscaling.keda.enabled (not $v.keda.prometheusServerAddress) -}}
{{- fail (printf "keda.prometheusServerAddress is required: services.%s.autoscaling.keda.enabled is true" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
