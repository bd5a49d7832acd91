{{- define "continuum.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "continuum.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: continuum
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "continuum.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "continuum.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s/%s:%s" $registry .root.Values.image.repository .service $tag -}}
{{- else -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .service $tag -}}
{{- end -}}
{{- end -}}

{{- define "continuum.databaseSecret" -}}
{{- .Values.postgres.existingSecret | default (include "continuum.fullname" .) -}}
{{- end -}}

{{- define "continuum.nodeKeySecret" -}}
{{- .Values.nodeKey.existingSecret | default (printf "%s-node-key" (include "continuum.fullname" .)) -}}
{{- end -}}

{{/* Settings every service reads (the same CONTINUUM_* names as compose and `continuum up`). */}}
{{- define "continuum.env" -}}
- name: CONTINUUM_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "continuum.databaseSecret" . }}
      key: {{ .Values.postgres.key }}
- name: CONTINUUM_NODE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "continuum.nodeKeySecret" . }}
      key: node-key
{{- end -}}

{{/* The NATS URL services use: the in-chart server or the external one. */}}
{{- define "continuum.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s-nats:4222" (include "continuum.fullname" .) -}}
{{- else if .Values.nats.url -}}
{{- .Values.nats.url -}}
{{- else -}}
{{- fail "set nats.url, or nats.enabled: true to run NATS in this release" -}}
{{- end -}}
{{- end -}}

{{/* Every NATS identity of a node (continuum.natsauth.IDENTITIES; a test keeps them equal). */}}
{{- define "continuum.natsIdentities" -}}
node cli gateway scheduler persona-runtime genome-registry academy marketplace mesh ingress
{{- end -}}

{{/* The Secret holding every NATS identity's password (key: the identity). */}}
{{- define "continuum.natsLoginsSecret" -}}
{{- .Values.nats.loginsSecret | default (printf "%s-nats-logins" (include "continuum.fullname" .)) -}}
{{- end -}}

{{/* Whether processes log in to NATS: always with the release's NATS, and with
an external one when nats.loginsSecret names its passwords. */}}
{{- define "continuum.natsAuth" -}}
{{- if or .Values.nats.enabled .Values.nats.loginsSecret -}}true{{- end -}}
{{- end -}}

{{/* A process's own NATS login (and no other's): (dict "root" $ "identity" "gateway"). */}}
{{- define "continuum.natsLogin" -}}
{{- if include "continuum.natsAuth" .root }}
- name: CONTINUUM_NATS_USER
  value: {{ .identity | quote }}
- name: CONTINUUM_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "continuum.natsLoginsSecret" .root }}
      key: {{ .identity }}
{{- end }}
{{- end -}}

{{- define "continuum.adminTokenSecret" -}}
{{- .Values.adminToken.existingSecret | default (printf "%s-admin-token" (include "continuum.fullname" .)) -}}
{{- end -}}

{{/* Whether the release's NATS links to other nodes (a hub, a leaf, or both). */}}
{{- define "continuum.meshEnabled" -}}
{{- if and .Values.nats.enabled (or .Values.mesh.hub .Values.mesh.hubs) -}}true{{- end -}}
{{- end -}}
