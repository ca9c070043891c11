{{- define "rocketload.labels" -}}
app.kubernetes.io/name: rocketload
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "rocketload.startAt" -}}
{{- if .Values.startAt -}}
{{- .Values.startAt -}}
{{- else -}}
{{- dateInZone "2006-01-02T15:04:05Z" (now | dateModify (printf "+%ds" (int .Values.startLead))) "UTC" -}}
{{- end -}}
{{- end -}}

{{- define "rocketload.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "rocketload.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
