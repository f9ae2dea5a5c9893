{{/* Names */}}
{{- define "genserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "genserve.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "genserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "genserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "genserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "genserve.labels" -}}
helm.sh/chart: {{ include "genserve.chart" . }}
{{ include "genserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: genserve
{{- end -}}

{{- define "genserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "genserve.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "genserve.configMapName" -}}
{{- include "genserve.fullname" . }}-config
{{- end -}}

{{- define "genserve.secretName" -}}
{{- default (printf "%s-secret" (include "genserve.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "genserve.apiServiceName" -}}
{{- include "genserve.fullname" . }}-api
{{- end -}}

{{/* image: (dict "root" $ "image" $override) -> repository:tag. The tag defaults to appVersion; a
   pool's tagSuffix (-cuda) follows it, so that one --set image.tag=... moves every image */}}
{{- define "genserve.image" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (.image | default dict) -}}
{{- $tag := printf "%s%s" (toString (default .root.Chart.AppVersion $img.tag)) ($img.tagSuffix | default "") -}}
{{- printf "%s:%s" $img.repository $tag -}}
{{- end -}}

{{- define "genserve.pullPolicy" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (.image | default dict) -}}
{{- $img.pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{/* startup probe failures allowed: ceil((loadTimeoutS + extraSeconds) / periodSeconds) */}}
{{- define "genserve.startupFailureThreshold" -}}
{{- $period := int .Values.probes.startup.periodSeconds -}}
{{- $total := add (int .Values.config.loadTimeoutS) (int .Values.probes.startup.extraSeconds) -}}
{{- div (add $total (sub $period 1)) $period -}}
{{- end -}}

{{/* the three probes on a named port: (dict "root" $ "port" "http" "liveness" (dict ...overrides)) */}}
{{- define "genserve.probes" -}}
{{- $p := .root.Values.probes -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ include "genserve.startupFailureThreshold" .root }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
{{- end -}}

{{- define "genserve.envFrom" -}}
- configMapRef:
    name: {{ include "genserve.configMapName" . }}
- secretRef:
    name: {{ include "genserve.secretName" . }}
{{- end -}}

{{- define "genserve.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end -}}

{{/* writable places under a read-only root filesystem */}}
{{- define "genserve.scratchVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: /home/genserve
- name: data
  mountPath: /var/lib/genserve/data
- name: outputs
  mountPath: /var/lib/genserve/outputs
{{- end -}}

{{- define "genserve.scratchVolumes" -}}
- name: tmp
  emptyDir: {}
- name: home
  emptyDir: {}
- name: data
  emptyDir: {}
- name: outputs
  emptyDir: {}
{{- end -}}

{{/* the models volume: (dict "root" $ "models" $mergedModels); empty for type none. Read-only is set
   on the mounts, so that an init container can still pull weights into it */}}
{{- define "genserve.modelsVolume" -}}
{{- $m := .models -}}
{{- if eq $m.type "hostPath" }}
- name: models
  hostPath:
    path: {{ $m.hostPath.path }}
    type: {{ $m.hostPath.type | default "DirectoryOrCreate" }}
{{- else if eq $m.type "existingClaim" }}
- name: models
  persistentVolumeClaim:
    claimName: {{ required "models.existingClaim is needed with models.type existingClaim" $m.existingClaim }}
{{- else if eq $m.type "persistentVolumeClaim" }}
- name: models
  persistentVolumeClaim:
    claimName: {{ include "genserve.fullname" .root }}-models
{{- else if ne $m.type "none" }}
{{- fail (printf "models.type must be none, hostPath, existingClaim or persistentVolumeClaim, not %q" $m.type) }}
{{- end }}
{{- end -}}

{{- define "genserve.modelsVolumeMount" -}}
{{- if ne .models.type "none" }}
- name: models
  mountPath: {{ .models.mountPath }}
  readOnly: {{ .models.readOnly }}
{{- end }}
{{- end -}}
