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

{{/* --- The web config file (--web.config.file, exporter-toolkit format) --- */}}
{{- define "avepoint.webConfigDir" -}}/run/secrets/avepoint-web{{- end -}}
{{- define "avepoint.webTLSDir" -}}/run/secrets/avepoint-web-tls{{- end -}}
{{- define "avepoint.webConfigName" -}}{{ include "avepoint.fullname" . | trunc 52 | trimSuffix "-" }}-web-config{{- end -}}

{{/* "true" when webConfig is set (non-empty), else "". */}}
{{- define "avepoint.webEnabled" -}}
{{- if not (empty .Values.webConfig) -}}true{{- end -}}
{{- end -}}

{{/* webConfig.tls: the chart's own key (a TLS Secret to mount), never written to the file. */}}
{{- define "avepoint.webTLSValues" -}}
{{- $tls := index (.Values.webConfig | default dict) "tls" | default dict -}}
{{- if not (kindIs "map" $tls) -}}
{{- fail "webConfig.tls: must be a map (existingSecret, certKey, keyKey, clientCAKey)" -}}
{{- end -}}
{{- toYaml $tls -}}
{{- end -}}

{{/* The TLS Secret's files in the pod: file name -> key in the Secret. */}}
{{- define "avepoint.webTLSFiles" -}}
{{- $tls := include "avepoint.webTLSValues" . | fromYaml -}}
tls.crt: {{ index $tls "certKey" | default "tls.crt" }}
tls.key: {{ index $tls "keyKey" | default "tls.key" }}
{{- with index $tls "clientCAKey" }}
client-ca.crt: {{ . }}
{{- end }}
{{- end -}}

{{/* The web config file: webConfig less its tls key, with the paths of the mounted TLS Secret filled in. */}}
{{- define "avepoint.webConfig" -}}
{{- $web := deepCopy (.Values.webConfig | default dict) -}}
{{- $_ := unset $web "tls" -}}
{{- $tls := include "avepoint.webTLSValues" . | fromYaml -}}
{{- if index $tls "existingSecret" -}}
{{- $server := index $web "tls_server_config" | default dict -}}
{{- if or (index $server "cert_file") (index $server "key_file") -}}
{{- fail "webConfig.tls_server_config.cert_file/key_file: leave them out with webConfig.tls.existingSecret, the chart sets them to the mounted Secret's files" -}}
{{- end -}}
{{- $dir := include "avepoint.webTLSDir" . -}}
{{- $_ := set $server "cert_file" (printf "%s/tls.crt" $dir) -}}
{{- $_ := set $server "key_file" (printf "%s/tls.key" $dir) -}}
{{- if index $tls "clientCAKey" -}}
{{- if index $server "client_ca_file" -}}
{{- fail "webConfig.tls_server_config.client_ca_file: leave it out with webConfig.tls.clientCAKey, the chart sets it" -}}
{{- end -}}
{{- if not (has (index $server "client_auth_type") (list "VerifyClientCertIfGiven" "RequireAndVerifyClientCert")) -}}
{{- fail "webConfig.tls.clientCAKey: set webConfig.tls_server_config.client_auth_type to RequireAndVerifyClientCert (or VerifyClientCertIfGiven), else the CA is never used" -}}
{{- end -}}
{{- $_ := set $server "client_ca_file" (printf "%s/client-ca.crt" $dir) -}}
{{- end -}}
{{- $_ := set $web "tls_server_config" $server -}}
{{- else if index $tls "clientCAKey" -}}
{{- fail "webConfig.tls.clientCAKey: needs webConfig.tls.existingSecret (the Secret that holds it)" -}}
{{- end -}}
{{- if and (index $web "tls_server_config") (not (index (index $web "tls_server_config") "cert_file")) -}}
{{- fail "webConfig.tls_server_config: set webConfig.tls.existingSecret (a kubernetes.io/tls Secret), or cert_file and key_file of files you mount with extraVolumes" -}}
{{- end -}}
{{- toYaml $web -}}
{{- end -}}

{{/* "true" when the exporter serves HTTPS. */}}
{{- define "avepoint.webTLS" -}}
{{- if include "avepoint.webEnabled" . -}}
{{- if index (include "avepoint.webConfig" . | fromYaml) "tls_server_config" -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* "true" when every page but /-/healthy needs basic auth. */}}
{{- define "avepoint.webBasicAuth" -}}
{{- if include "avepoint.webEnabled" . -}}
{{- if index .Values.webConfig "basic_auth_users" -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/*
How the kubelet probes: "tcp" when it cannot pass an HTTP check (a client certificate is required, or basic auth
with config.web.open_health_check false: the kubelet has neither), else the HTTP scheme.
*/}}
{{- define "avepoint.probeMode" -}}
{{- $server := index (include "avepoint.webConfig" . | fromYaml) "tls_server_config" | default dict -}}
{{- $web := index (.Values.config | default dict) "web" | default dict -}}
{{- $openHealth := true -}}
{{- if and (kindIs "map" $web) (hasKey $web "open_health_check") -}}
{{- $openHealth = index $web "open_health_check" -}}
{{- end -}}
{{- if eq (toString (index $server "client_auth_type")) "RequireAndVerifyClientCert" -}}
tcp
{{- else if and (include "avepoint.webBasicAuth" .) (not $openHealth) -}}
tcp
{{- else if include "avepoint.webTLS" . -}}
HTTPS
{{- else -}}
HTTP
{{- end -}}
{{- end -}}

{{/* A probe's handler. (dict "ctx" $ "path" "/-/healthy") */}}
{{- define "avepoint.probeHandler" -}}
{{- $mode := include "avepoint.probeMode" .ctx -}}
{{- if eq $mode "tcp" -}}
tcpSocket:
  port: http-metrics
{{- else -}}
httpGet:
  path: {{ .path }}
  port: http-metrics
  {{- if eq $mode "HTTPS" }}
  scheme: HTTPS
  {{- end }}
{{- end -}}
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
    {{- if include "avepoint.webEnabled" . }}
    checksum/web-config: {{ printf "%s %s" (include (print $.Template.BasePath "/web-config-secret.yaml") .) (include "avepoint.webTLSValues" .) | sha256sum }}
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
        {{- if include "avepoint.webEnabled" . }}
        - --web.config.file={{ include "avepoint.webConfigDir" . }}/web-config.yml
        {{- end }}
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
        {{- include "avepoint.probeHandler" (dict "ctx" . "path" "/-/healthy") | nindent 8 }}
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- /* With basic auth /-/ready needs credentials the kubelet does not have; /-/healthy stays open. */}}
        {{- include "avepoint.probeHandler" (dict "ctx" . "path" (ternary "/-/healthy" "/-/ready" (not (empty (include "avepoint.webBasicAuth" .))))) | nindent 8 }}
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
        {{- if include "avepoint.webEnabled" . }}
        - name: web-config
          mountPath: {{ include "avepoint.webConfigDir" . }}
          readOnly: true
        {{- if index (include "avepoint.webTLSValues" . | fromYaml) "existingSecret" }}
        - name: web-tls
          mountPath: {{ include "avepoint.webTLSDir" . }}
          readOnly: true
        {{- end }}
        {{- end }}
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
    {{- if include "avepoint.webEnabled" . }}
    - name: web-config
      secret:
        secretName: {{ include "avepoint.webConfigName" . }}
        defaultMode: 0440
        items:
          - key: web-config.yml
            path: web-config.yml
    {{- with index (include "avepoint.webTLSValues" . | fromYaml) "existingSecret" }}
    - name: web-tls
      secret:
        secretName: {{ . }}
        defaultMode: 0440
        items:
          {{- range $file, $key := include "avepoint.webTLSFiles" $ | fromYaml }}
          - key: {{ $key }}
            path: {{ $file }}
          {{- end }}
    {{- end }}
    {{- end }}
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
