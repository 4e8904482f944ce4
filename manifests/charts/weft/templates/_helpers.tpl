{{/* Labels every object carries; weftd's Service selects app.kubernetes.io/name only. */}}
{{- define "weft.labels" -}}
app.kubernetes.io/part-of: weft
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "weft.tag" -}}
{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "weft.weftdImage" -}}
{{ printf "%s/%s:%s" .Values.image.registry .Values.image.repository (include "weft.tag" .) }}
{{- end }}

{{- define "weft.initImage" -}}
{{ printf "%s/%s:%s" .Values.image.registry .Values.image.initRepository (include "weft.tag" .) }}
{{- end }}

{{/* cert-manager needs an issuer: refuse at render time rather than install a weftd that exits at start. */}}
{{- define "weft.checkCertificateProvider" -}}
{{- if and (eq .Values.certificateProvider.kind "cert-manager") (not .Values.certificateProvider.certmanager.issuerName) }}
{{- fail "certificateProvider.kind cert-manager needs certificateProvider.certmanager.issuerName" }}
{{- end }}
{{- end }}
