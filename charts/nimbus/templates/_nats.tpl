{{/*
NATS users. The bundled server lets in only the users in files/nats-permissions.json (written from
bus/src/nats-permissions.ts by `npm run manifests`), each with exactly the subjects its component
uses; an external NATS gets the same users when nats.auth.existingSecret names their passwords.
*/}}

{{/* "true" when the components log in to NATS: always with the bundled server, with an external one when a Secret is given. */}}
{{- define "nimbus.nats.auth" -}}
{{- if or (include "nimbus.nats.bundled" .) (and .Values.nats.externalUrl .Values.nats.auth.existingSecret) }}true{{ end }}
{{- end }}

{{/*
The Secret holding the users' passwords: the one named, else the API keys Secret the operator
brings (keys nats-<role>-password, so the chart generates no Secret at all), else the chart's own.
*/}}
{{- define "nimbus.nats.authSecretName" -}}
{{- if .Values.nats.auth.existingSecret }}
{{- .Values.nats.auth.existingSecret }}
{{- else if .Values.gateway.apiKeys.existingSecret }}
{{- .Values.gateway.apiKeys.existingSecret }}
{{- else }}
{{- printf "%s-nats-auth" (include "nimbus.fullname" .) }}
{{- end }}
{{- end }}

{{/* The key of one role's password in that Secret; call with (dict "ctx" $ "role" "gateway"). */}}
{{- define "nimbus.nats.passwordKey" -}}
{{- if and (not .ctx.Values.nats.auth.existingSecret) .ctx.Values.gateway.apiKeys.existingSecret }}nats-{{ .role }}-password{{ else }}{{ .role }}-password{{ end }}
{{- end }}

{{/* "true" when the chart makes that Secret itself. */}}
{{- define "nimbus.nats.authGenerated" -}}
{{- if and (include "nimbus.nats.bundled" .) (not (or .Values.nats.auth.existingSecret .Values.gateway.apiKeys.existingSecret)) }}true{{ end }}
{{- end }}

{{/*
A component's NATS login, NIMBUS_NATS_USER and NIMBUS_NATS_PASSWORD; call with (dict "ctx" $ "role"
"gateway"). Nothing when the components connect anonymously (an external NATS without a Secret).
*/}}
{{- define "nimbus.nats.authEnv" -}}
{{- if and (include "nimbus.nats.url" .ctx) (include "nimbus.nats.auth" .ctx) -}}
- name: NIMBUS_NATS_USER
  value: {{ index .ctx.Values.nats.auth.users .role | quote }}
- name: NIMBUS_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "nimbus.nats.authSecretName" .ctx }}
      key: {{ include "nimbus.nats.passwordKey" . }}
{{- end }}
{{- end }}

{{/*
The gateway's second login, for what functions publish (ctx.publish, subject destinations): the
publisher user, whom NATS refuses every subject of Nimbus's. Call with $.
*/}}
{{- define "nimbus.nats.eventsAuthEnv" -}}
{{- if and (include "nimbus.nats.url" .) (include "nimbus.nats.auth" .) -}}
- name: NIMBUS_NATS_EVENTS_USER
  value: {{ index .Values.nats.auth.users "publisher" | quote }}
- name: NIMBUS_NATS_EVENTS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "nimbus.nats.authSecretName" . }}
      key: {{ include "nimbus.nats.passwordKey" (dict "ctx" . "role" "publisher") }}
{{- end }}
{{- end }}

{{/*
The bundled server's authorization block. Passwords are environment variables the server reads
($NATS_<ROLE>_PASSWORD, from the Secret), so the ConfigMap holds none; permissions are JSON, which
the NATS config language reads as is.
*/}}
{{- define "nimbus.nats.authorizationConf" -}}
{{- $permissions := .Files.Get "files/nats-permissions.json" | fromJson }}
{{- $publisher := deepCopy $permissions.publisher }}
{{- $_ := set $publisher.publish "allow" .Values.nats.auth.publisherSubjects -}}
authorization {
  users: [
    {{- range $role := list "gateway" "controller" "publisher" }}
    {user: {{ index $.Values.nats.auth.users $role | toRawJson }}, password: {{ printf "$NATS_%s_PASSWORD" (upper $role) }}, permissions: {{ eq $role "publisher" | ternary $publisher (index $permissions $role) | toRawJson }}}
    {{- end }}
  ]
}
{{- end }}
