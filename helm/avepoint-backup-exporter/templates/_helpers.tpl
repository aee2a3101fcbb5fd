{{/* Names, labels and the pieces that the Deployment and the StatefulSet share. */}}

{{- define "avepoint.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "avepoint.fullname" -}}
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

{{- define "avepoint.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "avepoint.selectorLabels" -}}
app.kubernetes.io/name: {{ include "avepoint.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "avepoint.labels" -}}
helm.sh/chart: {{ include "avepoint.chart" . }}
{{ include "avepoint.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The Service that Prometheus scrapes carries this label; the StatefulSet's headless Service does not. */}}
{{- define "avepoint.metricsServiceLabels" -}}
{{ include "avepoint.selectorLabels" . }}
app.kubernetes.io/component: metrics
{{- end -}}

{{- define "avepoint.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "avepoint.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "avepoint.secretName" -}}
{{- default (include "avepoint.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "avepoint.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Where the pod sees its files. */}}
{{- define "avepoint.configDir" -}}/etc/avepoint-exporter{{- end -}}
{{- define "avepoint.secretDir" -}}/run/secrets/avepoint{{- end -}}
{{- define "avepoint.stateDir" -}}/var/lib/avepoint-exporter{{- end -}}

{{/* The secret's files in the pod, by auth method: file name -> key in the Secret. */}}
{{- define "avepoint.secretFiles" -}}
{{- if eq .Values.auth.method "certificate" -}}
private-key.pem: {{ .Values.auth.secretKeys.privateKey }}
certificate.pem: {{ .Values.auth.secretKeys.certificate }}
{{- else -}}
client-secret: {{ .Values.auth.secretKeys.clientSecret }}
{{- end -}}
{{- end -}}

{{/* The exporter's config file: .Values.config plus the client id, the secret's paths and the state file. */}}
{{- define "avepoint.config" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}
{{- $auth := dict -}}
{{- if kindIs "map" (index $config "auth") -}}
{{- $auth = index $config "auth" -}}
{{- end -}}
{{- with .Values.auth.clientId -}}
{{- $_ := set $auth "client_id" . -}}
{{- end -}}
{{- $dir := include "avepoint.secretDir" . -}}
{{- if eq .Values.auth.method "certificate" -}}
{{- $_ := set $auth "private_key_file" (printf "%s/private-key.pem" $dir) -}}
{{- $_ := set $auth "certificate_file" (printf "%s/certificate.pem" $dir) -}}
{{- else -}}
{{- $_ := set $auth "client_secret_file" (printf "%s/client-secret" $dir) -}}
{{- end -}}
{{- $_ := set $config "auth" $auth -}}
{{- if not (hasKey $config "state_file") -}}
{{- $_ := set $config "state_file" (printf "%s/state.json" (include "avepoint.stateDir" .)) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{- define "avepoint.podTemplate" -}}
metadata:
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if .Values.auth.existingSecret }}
    checksum/secret: {{ printf "%s %s" .Values.auth.existingSecret (include "avepoint.secretFiles" .) | sha256sum }}
    {{- else }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "avepoint.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "avepoint.serviceAccountName" . }}
  # The exporter never talks to the Kubernetes API.
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: exporter
      image: {{ include "avepoint.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        {{- if .Values.demo }}
        - --demo
        {{- else }}
        - --config.file={{ include "avepoint.configDir" . }}/config.yml
        {{- end }}
        - --web.listen-address=:9877
        - --log.format={{ .Values.logFormat }}
        - --log.level={{ .Values.logLevel }}
        {{- if gt (int .Values.shards) 1 }}
        - --shard.count={{ .Values.shards }}
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or (gt (int .Values.shards) 1) .Values.extraEnv }}
      env:
        {{- if gt (int .Values.shards) 1 }}
        # Without --shard.index the exporter takes its shard from the ordinal that ends the host name
        # (name-2 -> 2): make sure that is the pod's name.
        - name: HOSTNAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      ports:
        - name: http-metrics
          containerPort: 9877
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /-/healthy
          port: http-metrics
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /-/ready
          port: http-metrics
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        {{- if not .Values.demo }}
        - name: config
          mountPath: {{ include "avepoint.configDir" . }}
          readOnly: true
        - name: secret
          mountPath: {{ include "avepoint.secretDir" . }}
          readOnly: true
        {{- end }}
        - name: state
          mountPath: {{ include "avepoint.stateDir" . }}
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if not .Values.demo }}
    - name: config
      configMap:
        name: {{ include "avepoint.fullname" . }}
    - name: secret
      secret:
        secretName: {{ include "avepoint.secretName" . }}
        defaultMode: 0440
        items:
          {{- range $file, $key := include "avepoint.secretFiles" . | fromYaml }}
          - key: {{ $key }}
            path: {{ $file }}
          {{- end }}
    {{- end }}
    {{- if not .Values.persistence.enabled }}
    - name: state
      emptyDir:
        sizeLimit: 64Mi
    {{- else if le (int .Values.shards) 1 }}
    - name: state
      persistentVolumeClaim:
        claimName: {{ .Values.persistence.existingClaim | default (printf "%s-state" (include "avepoint.fullname" .)) }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
