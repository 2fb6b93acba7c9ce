{{- define "folio.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "folio.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "folio.labels" -}}
{{ include "folio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "folio.runtimeConfigSecret" -}}
{{- .Values.runtimeConfig.existingSecret | default (printf "%s-runtime-config" (include "folio.fullname" .)) -}}
{{- end -}}

{{- define "folio.variablesSecret" -}}
{{- .Values.variables.existingSecret | default (printf "%s-variables" (include "folio.fullname" .)) -}}
{{- end -}}
