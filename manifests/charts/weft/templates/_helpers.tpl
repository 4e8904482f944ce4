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

{{/* weftd selects its CA by flag only once it has one for cert-manager: refuse rather than install the internal CA silently. */}}
{{- define "weft.checkCertificateProvider" -}}
{{- if eq .Values.certificateProvider.kind "cert-manager" }}
{{- fail "certificateProvider.kind cert-manager: weftd has no option to sign through cert-manager yet; use tresor (the internal CA)" }}
{{- end }}
{{- end }}
