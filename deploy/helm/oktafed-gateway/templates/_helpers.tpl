{{- define "oktafed-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oktafed-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "oktafed-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "oktafed-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "oktafed-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oktafed-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "oktafed-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oktafed-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whether the chart's own Redis settings make a URL. */}}
{{- define "oktafed-gateway.redisFromValues" -}}
{{- if and .Values.redis.host (not .Values.redis.existingSecret.name) }}true{{ end }}
{{- end }}

{{/*
REDIS_URL from the values: user and password escaped for the URL's
userinfo (urlquery turns a space into "+", which userinfo reads as a
plus sign, so spaces become %20).
*/}}
{{- define "oktafed-gateway.redisURL" -}}
{{- $r := .Values.redis }}
{{- $auth := "" }}
{{- if or $r.username $r.password }}
{{- $auth = printf "%s:%s@" ($r.username | urlquery | replace "+" "%20") ($r.password | urlquery | replace "+" "%20") }}
{{- end }}
{{- printf "%s://%s%s:%v/%v" (ternary "rediss" "redis" $r.tls) $auth $r.host $r.port $r.db }}
{{- end }}

{{/* Whether the chart renders its own Secret. */}}
{{- define "oktafed-gateway.ownSecret" -}}
{{- if or (include "oktafed-gateway.redisFromValues" .) (include "oktafed-gateway.redisPasswordFromValues" .) (and .Values.introspection.clientSecrets (not .Values.introspection.existingSecret)) }}true{{ end }}
{{- end }}

{{/* Whether a Cluster or Sentinel deployment takes its password from the chart's Secret. */}}
{{- define "oktafed-gateway.redisPasswordFromValues" -}}
{{- $r := .Values.redis }}
{{- if and (or $r.cluster.addrs $r.sentinel.addrs) $r.password (not $r.existingSecret.name) }}true{{ end }}
{{- end }}

{{/* The gateway configuration file: config plus the chart's Redis settings (the
listen address comes from GATEWAY_LISTEN, which wins over the file). */}}
{{- define "oktafed-gateway.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $redis := deepCopy (default dict (get $cfg "redis")) }}
{{- if .Values.redis.failureMode }}{{ $_ := set $redis "on_failure" .Values.redis.failureMode }}{{ end }}
{{- if .Values.redis.prefix }}{{ $_ := set $redis "prefix" .Values.redis.prefix }}{{ end }}
{{- if .Values.redis.maxStale }}{{ $_ := set $redis "max_stale" .Values.redis.maxStale }}{{ end }}
{{- $_ := set $cfg "redis" $redis }}
{{- toYaml $cfg }}
{{- end }}
