{{/*
Helpers of the Ingress and the HTTPRoute that expose the gateway outside the cluster.
*/}}

{{/* The gateway Service's port (name http), which the Ingress and the HTTPRoute send traffic to. */}}
{{- define "nimbus.gateway.port" -}}
8080
{{- end }}

{{/*
The gateway's paths for operators, not callers: the admin API and its OpenFaaS twin, the
dashboard, Prometheus's metrics and the probes. The gateway still asks an admin key for /system
and /metrics; keeping them off the public route as well means a leaked or guessed admin key is
no use from the internet, and the probes tell strangers nothing.
*/}}
{{- define "nimbus.expose.operatorPaths" -}}
/system /ui /metrics /healthz /readyz
{{- end }}

{{/*
Fails unless the path keeps clear of the operator paths; call with (dict "path" <path> "exact"
<bool> "field" <where it was set> "allow" <the opt-in> "optIn" <the opt-in's name>). A prefix
reaches an operator path when it is that path, lies under it, or is above it ("/" reaches them
all); an exact path only when it is that path or under it. Prefixes match whole segments in both
APIs (`/sys` does not match `/system`) and a trailing slash is ignored, as here.
*/}}
{{- define "nimbus.expose.checkPath" -}}
{{- if not .allow }}
{{- $path := trimSuffix "/" .path }}
{{- range $operator := splitList " " (include "nimbus.expose.operatorPaths" .) }}
{{- $under := or (eq $path $operator) (hasPrefix (printf "%s/" $operator) $path) }}
{{- $above := and (not $.exact) (hasPrefix (printf "%s/" $path) $operator) }}
{{- if or $under $above }}
{{- fail (printf "%s: %q would route the gateway's operator path %s (admin API, dashboard, metrics or probes) to the public; route only callers' paths such as /function, or set %s=true to expose them on purpose" $.field $.path $operator $.optIn) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
