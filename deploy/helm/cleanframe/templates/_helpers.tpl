{{/*
Helpers of the cleanframe chart. Names are cut to 63 characters, the limit
of Kubernetes labels and DNS labels.
*/}}

{{- define "cleanframe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The "<release>-<chart>" prefix of every object name. */}}
{{- define "cleanframe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a component's objects: (dict "root" $ "component" "ingest"). */}}
{{- define "cleanframe.componentName" -}}
{{- printf "%s-%s" (include "cleanframe.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "cleanframe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "cleanframe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cleanframe
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select one component's pods: (dict "root" $ "component" "x"). */}}
{{- define "cleanframe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cleanframe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cleanframe.componentLabels" -}}
{{ include "cleanframe.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cleanframe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cleanframe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image of a component: (dict "root" $ "repository" "cleanframe/x"). */}}
{{- define "cleanframe.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "cleanframe.configName" -}}
{{- printf "%s-config" (include "cleanframe.fullname" .) -}}
{{- end -}}

{{- define "cleanframe.secretName" -}}
{{- printf "%s-secret" (include "cleanframe.fullname" .) -}}
{{- end -}}

{{/* The Secret with the SASL user name and password. */}}
{{- define "cleanframe.saslSecretName" -}}
{{- .Values.kafka.sasl.existingSecret | default (include "cleanframe.secretName" .) -}}
{{- end -}}

{{/* The Secret with the API token. */}}
{{- define "cleanframe.tokenSecretName" -}}
{{- .Values.ingest.auth.existingSecret | default (printf "%s-api-token" (include "cleanframe.fullname" .)) -}}
{{- end -}}

{{/*
The API token: ingest.auth.token, else the one already in the cluster
(lookup, on upgrades), else a random one. The choice is kept in .Values for
the rest of the render, so that the Secret and the checksum annotation of
the pods agree.
*/}}
{{- define "cleanframe.apiToken" -}}
{{- $auth := .Values.ingest.auth -}}
{{- if $auth.token -}}
{{- $auth.token -}}
{{- else -}}
{{- if not (hasKey $auth "generatedToken") -}}
{{- $token := randAlphaNum 40 -}}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "cleanframe.tokenSecretName" .) -}}
{{- if and $old $old.data (hasKey $old.data "token") -}}
{{- $token = index $old.data "token" | b64dec -}}
{{- end -}}
{{- $_ := set $auth "generatedToken" $token -}}
{{- end -}}
{{- $auth.generatedToken -}}
{{- end -}}
{{- end -}}

{{- define "cleanframe.topicNoisy" -}}
{{- if .Values.kafka.topicPrefix -}}
{{- printf "%s.images.noisy" .Values.kafka.topicPrefix -}}
{{- else -}}
images.noisy
{{- end -}}
{{- end -}}

{{- define "cleanframe.group" -}}
{{- if .Values.denoiser.group -}}
{{- .Values.denoiser.group -}}
{{- else if .Values.kafka.topicPrefix -}}
{{- printf "%s.denoiser" .Values.kafka.topicPrefix -}}
{{- else -}}
cleanframe-denoiser
{{- end -}}
{{- end -}}

{{/*
The bytes of a Kubernetes memory quantity such as 512Mi, 2Gi, 1.5G or
1000000 (suffixes Ki Mi Gi Ti k M G T, or none). Rendering fails on others.
*/}}
{{- define "cleanframe.memoryBytes" -}}
{{- $q := toString . -}}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- if or (not $num) (not (hasKey $units $suffix)) -}}
{{- fail (printf "memory quantity %q: want a number with an optional suffix Ki, Mi, Gi, Ti, k, M, G or T" $q) -}}
{{- end -}}
{{- mulf $num (get $units $suffix) | floor | int64 -}}
{{- end -}}

{{/*
The deployment minus scheduling parts shared by the three components:
environment of every container. Args: (dict "root" $ "component" "x" "c" .Values.x).
*/}}
{{- define "cleanframe.env" -}}
{{- $root := .root -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: GOMAXPROCS
  valueFrom:
    resourceFieldRef:
      containerName: {{ .component }}
      resource: limits.cpu
      divisor: "1"
{{- with .c.resources.limits }}
{{- if .memory }}
- name: GOMEMLIMIT
  value: {{ mulf (include "cleanframe.memoryBytes" .memory) $root.Values.goMemLimitRatio | floor | int64 | quote }}
{{- end }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "cleanframe-%s" .component | quote }}
{{- $attrs := list "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.pod.name=$(POD_NAME)" "k8s.node.name=$(NODE_NAME)" (printf "k8s.deployment.name=%s" (include "cleanframe.componentName" .)) (printf "service.namespace=%s" $root.Release.Namespace) -}}
{{- range $k, $v := $root.Values.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) -}}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- with $root.Values.otel.headersSecret }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: headers
{{- end }}
{{- if $root.Values.kafka.sasl.enabled }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "cleanframe.saslSecretName" $root }}
      key: username
- name: KAFKA_SASL_PASSWORD_FILE
  value: /etc/cleanframe/kafka-sasl/password
{{- end }}
{{- range $k, $v := .c.extraEnv }}
- name: {{ $k }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end -}}

{{/* Volumes of every pod: /tmp and the Kafka secrets. Args: $. */}}
{{- define "cleanframe.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.kafka.sasl.enabled }}
- name: kafka-sasl
  secret:
    secretName: {{ include "cleanframe.saslSecretName" . }}
    defaultMode: 0440
    items:
      - key: password
        path: password
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "cleanframe.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.sasl.enabled }}
- name: kafka-sasl
  mountPath: /etc/cleanframe/kafka-sasl
  readOnly: true
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/cleanframe/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "cleanframe.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
fsGroup: {{ .Values.security.runAsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "cleanframe.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.security.runAsUser }}
runAsGroup: {{ .Values.security.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "cleanframe.probes" -}}
{{- if .Values.probes.enabled }}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: {{ div .Values.probes.startupSeconds 5 | max 1 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end }}
{{- end -}}

{{/* Pod annotations: config checksum and Prometheus. Args: (dict "root" $ "c" .Values.x). */}}
{{- define "cleanframe.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
checksum/secret: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
{{- if .root.Values.prometheusAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .root.Values.httpPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .c.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Scheduling: node selector, tolerations, affinity, spread. Args as podAnnotations plus "component". */}}
{{- define "cleanframe.scheduling" -}}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .c.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range .c.topologySpreadConstraints }}
{{- $tsc := deepCopy . }}
{{- if not (hasKey $tsc "labelSelector") }}
{{- $_ := set $tsc "labelSelector" (dict "matchLabels" (include "cleanframe.selectorLabels" $ | fromYaml)) }}
{{- end }}
  - {{- toYaml $tsc | nindent 4 }}
{{- end }}
{{- end }}
{{- end -}}
