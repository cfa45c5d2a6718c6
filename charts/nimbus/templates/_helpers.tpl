{{/* The chart name, as the app.kubernetes.io/name label. */}}
{{- define "nimbus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: the release name, plus the chart name when the release name
lacks it. Truncated to leave room for suffixes such as "-controller-leader-election".
*/}}
{{- define "nimbus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nimbus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "nimbus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nimbus.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every label of one component's objects; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "nimbus.labels" -}}
{{ include "nimbus.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: nimbus
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "nimbus.chart" .ctx }}
{{- end }}

{{/* An image reference from {repository, tag}; the tag defaults to the appVersion. */}}
{{- define "nimbus.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* "true" when the chart runs its own Redis: enabled, and no external URL given. */}}
{{- define "nimbus.redis.bundled" -}}
{{- if and .Values.redis.enabled (not .Values.redis.externalUrl) }}true{{ end }}
{{- end }}

{{- define "nimbus.nats.bundled" -}}
{{- if and .Values.nats.enabled (not .Values.nats.externalUrl) }}true{{ end }}
{{- end }}

{{/* The Redis in use, without credentials: the external URL as given, else the bundled Service. */}}
{{- define "nimbus.redis.url" -}}
{{- if .Values.redis.externalUrl }}
{{- .Values.redis.externalUrl }}
{{- else if include "nimbus.redis.bundled" . }}
{{- printf "redis://%s-redis.%s.svc:6379" (include "nimbus.fullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The gateway's state service, which function pods with state reach (never the public Service). */}}
{{- define "nimbus.stateServiceUrl" -}}
{{- printf "http://%s-gateway-state.%s.svc:%d" (include "nimbus.fullname" .) .Release.Namespace (int .Values.state.servicePort) }}
{{- end }}

{{/*
The Secret holding `state-key`, the key function state tokens are made with: the one named, else the
API keys Secret the operator brings (so the chart generates no Secret at all), else the chart's own.
*/}}
{{- define "nimbus.stateKeySecretName" -}}
{{- if .Values.state.key.existingSecret }}
{{- .Values.state.key.existingSecret }}
{{- else if .Values.gateway.apiKeys.existingSecret }}
{{- .Values.gateway.apiKeys.existingSecret }}
{{- else }}
{{- printf "%s-state-key" (include "nimbus.fullname" .) }}
{{- end }}
{{- end }}

{{/* "true" when the chart makes the state key Secret itself. */}}
{{- define "nimbus.stateKeyGenerated" -}}
{{- if not (or .Values.state.key.existingSecret .Values.gateway.apiKeys.existingSecret) }}true{{ end }}
{{- end }}

{{/*
Redis's memory limit in MiB, from resources.limits.memory (Mi or Gi); fails unless maxmemoryMi is
below it, so memory pressure makes Redis refuse writes before the kernel kills it.
*/}}
{{- define "nimbus.redis.maxmemory" -}}
{{- $limit := toString (((.Values.redis.resources).limits).memory | default "") }}
{{- $limitMi := 0 }}
{{- if hasSuffix "Gi" $limit }}
{{- $limitMi = mul (trimSuffix "Gi" $limit | int) 1024 }}
{{- else if hasSuffix "Mi" $limit }}
{{- $limitMi = trimSuffix "Mi" $limit | int }}
{{- else }}
{{- fail (printf "redis.resources.limits.memory must be set in Mi or Gi (e.g. 256Mi), got %q: Redis's maxmemory is checked against it" $limit) }}
{{- end }}
{{- $max := int .Values.redis.maxmemoryMi }}
{{- if ge $max $limitMi }}
{{- fail (printf "redis.maxmemoryMi (%d) must be below redis.resources.limits.memory (%dMi): Redis needs room beyond its data, or the kernel kills it before it refuses a write" $max $limitMi) }}
{{- end }}
{{- printf "%dmb" $max }}
{{- end }}

{{/*
The Secret holding the bundled Redis's password: the one named, else the API keys Secret the
operator brings (key redis-password, so the chart generates no Secret at all), else the chart's own.
*/}}
{{- define "nimbus.redis.passwordSecretName" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecret }}
{{- else if .Values.gateway.apiKeys.existingSecret }}
{{- .Values.gateway.apiKeys.existingSecret }}
{{- else }}
{{- printf "%s-redis" (include "nimbus.fullname" .) }}
{{- end }}
{{- end }}

{{- define "nimbus.redis.passwordKey" -}}
{{- if and (not .Values.redis.auth.existingSecret) .Values.gateway.apiKeys.existingSecret }}redis-password{{ else }}password{{ end }}
{{- end }}

{{/* "true" when the chart makes the Redis password Secret itself. */}}
{{- define "nimbus.redis.passwordGenerated" -}}
{{- if and (include "nimbus.redis.bundled" .) (not (or .Values.redis.auth.existingSecret .Values.gateway.apiKeys.existingSecret)) }}true{{ end }}
{{- end }}

{{/*
An env entry reading the bundled Redis's password; call with (dict "ctx" $ "name" "ENV_NAME").
Required: Redis must never start without one, nor a component with a URL naming an unset variable.
*/}}
{{- define "nimbus.redis.passwordEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "nimbus.redis.passwordSecretName" .ctx }}
      key: {{ include "nimbus.redis.passwordKey" .ctx }}
{{- end }}

{{- define "nimbus.nats.url" -}}
{{- if .Values.nats.externalUrl }}
{{- .Values.nats.externalUrl }}
{{- else if include "nimbus.nats.bundled" . }}
{{- printf "nats://%s-nats.%s.svc:4222" (include "nimbus.fullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "nimbus.gateway.url" -}}
{{- printf "http://%s-gateway.%s.svc:%s" (include "nimbus.fullname" .) .Release.Namespace (include "nimbus.gateway.port" .) }}
{{- end }}

{{- define "nimbus.apiKeysSecretName" -}}
{{- default (printf "%s-api-keys" (include "nimbus.fullname" .)) .Values.gateway.apiKeys.existingSecret }}
{{- end }}

{{/*
The Secret holding `report-token`, the Bearer token of the gateways' reports and wakes: the one
named, else the API keys Secret the operator brings (so the chart generates no Secret at all), else
the chart's own.
*/}}
{{- define "nimbus.reportTokenSecretName" -}}
{{- if .Values.controller.reportToken.existingSecret }}
{{- .Values.controller.reportToken.existingSecret }}
{{- else if .Values.gateway.apiKeys.existingSecret }}
{{- .Values.gateway.apiKeys.existingSecret }}
{{- else }}
{{- printf "%s-report-token" (include "nimbus.fullname" .) }}
{{- end }}
{{- end }}

{{/* "true" when the chart makes the report token Secret itself. */}}
{{- define "nimbus.reportTokenGenerated" -}}
{{- if not (or .Values.controller.reportToken.existingSecret .Values.gateway.apiKeys.existingSecret) }}true{{ end }}
{{- end }}

{{/*
Fails the install or upgrade when the operator's Secret is there but lacks `report-token`: the
controller and the gateway would not start without it (helm template cannot look, and renders on).
*/}}
{{- define "nimbus.reportTokenCheck" -}}
{{- if not (include "nimbus.reportTokenGenerated" .) }}
{{- $name := include "nimbus.reportTokenSecretName" . }}
{{- $live := lookup "v1" "Secret" .Release.Namespace $name }}
{{- if and $live (not (hasKey ($live.data | default dict) "report-token")) }}
{{- fail (printf "Secret %s has no key report-token, the Bearer token of the gateways' reports and wakes, without which the controller and the gateway do not start: add one of 16 characters or more (e.g. openssl rand -hex 24), or name another Secret in controller.reportToken.existingSecret" $name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Every controller pod behind the headless peers Service, looked up by the gateway every 5 s, so
the standbys get reports too and the wakes reach whichever replica leads.
*/}}
{{- define "nimbus.controllerPeersUrl" -}}
{{- printf "dns+http://%s-controller-peers.%s.svc:%d" (include "nimbus.fullname" .) .Release.Namespace (int .Values.controller.metricsPort) }}
{{- end }}

{{/*
An env entry per set key of a map of optional numbers; call with (dict "values" <map> "env" (list
(list "key" "ENV_NAME") ...)). Unset or null renders nothing, and 0 still renders. toJson writes
numbers as plain digits (1000000, not 1e+06), the only form the components' parsers take.
*/}}
{{- define "nimbus.optionalNumberEnv" -}}
{{- $values := .values | default dict }}
{{- range .env }}
{{- $value := index $values (index . 0) }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ index . 1 }}
  value: {{ toJson $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Environment the controller and the gateway share. */}}
{{- define "nimbus.commonEnv" -}}
- name: NIMBUS_WATCH_NAMESPACES
  value: {{ join "," .Values.watchNamespaces | quote }}
{{- /* Where the controller keeps the copies of source triggers' Secrets, and the gateway reads them. */}}
- name: NIMBUS_PLATFORM_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: NIMBUS_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if include "nimbus.redis.bundled" . }}
{{- /* Kubernetes expands $(NIMBUS_REDIS_PASSWORD) from the entry before: the value stays out of the manifest. */}}
{{ include "nimbus.redis.passwordEnv" (dict "ctx" . "name" "NIMBUS_REDIS_PASSWORD") }}
- name: NIMBUS_REDIS_URL
  value: {{ printf "redis://:$(NIMBUS_REDIS_PASSWORD)@%s-redis.%s.svc:6379" (include "nimbus.fullname" .) .Release.Namespace | quote }}
{{- else if .Values.redis.externalUrl }}
- name: NIMBUS_REDIS_URL
  value: {{ .Values.redis.externalUrl | quote }}
{{- end }}
{{- with include "nimbus.nats.url" . }}
- name: NIMBUS_NATS_URL
  value: {{ . | quote }}
{{- end }}
{{- /* The gateway and the controller send their spans (and the gateway its replicas') to one collector. */}}
{{- with .Values.tracing.endpoint }}
- name: NIMBUS_TRACING_ENDPOINT
  value: {{ . | quote }}
- name: NIMBUS_TRACING_SAMPLE_RATIO
  value: {{ $.Values.tracing.sampleRatio | toString | quote }}
{{- end }}
{{- with include "nimbus.optionalNumberEnv" (dict "values" .Values.state "env" (list
  (list "maxValueBytes" "NIMBUS_STATE_MAX_VALUE_BYTES")
  (list "maxKeys" "NIMBUS_STATE_MAX_KEYS")
  (list "maxBytes" "NIMBUS_STATE_MAX_BYTES"))) }}
{{- . | trim | nindent 0 }}
{{- end }}
- name: NIMBUS_STATE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "nimbus.stateKeySecretName" . }}
      key: state-key
- name: NIMBUS_REPORT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "nimbus.reportTokenSecretName" . }}
      key: report-token
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}

{{/* The pod security context of the Nimbus components (UID 10001, as the images' USER). */}}
{{- define "nimbus.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The container security context every container in the chart gets. */}}
{{- define "nimbus.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/*
Spreads a component's replicas over nodes when it can; call with (dict "ctx" $ "component" "gateway").
*/}}
{{- define "nimbus.topologySpread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "nimbus.selectorLabels" . | nindent 6 }}
{{- end }}

{{/*
Keeps a component's replicas on different nodes when the scheduler can (preferred, so a one-node
cluster still runs them all); the values' own `affinity`, when set, replaces it. Call with
(dict "ctx" $ "component" "gateway" "affinity" .Values.gateway.affinity).
*/}}
{{- define "nimbus.affinity" -}}
{{- if .affinity }}
{{- toYaml .affinity }}
{{- else }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "nimbus.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end }}

{{/* A component's selector labels as `key=value,…`, the form the controller's pod selector settings take. */}}
{{- define "nimbus.podSelectorEnv" -}}
{{- printf "app.kubernetes.io/name=%s,app.kubernetes.io/instance=%s,app.kubernetes.io/component=%s" (include "nimbus.name" .ctx) .ctx.Release.Name .component }}
{{- end }}

{{/* The label matchers every alert picks this release's series with (monitoring.seriesSelector). */}}
{{- define "nimbus.monitoring.selector" -}}
{{- default (printf "namespace=%q" .Release.Namespace) .Values.monitoring.seriesSelector }}
{{- end }}
