{{- define "leaseguard.labels" -}}
app.kubernetes.io/name: leaseguard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The test hook's objects: not app.kubernetes.io/name leaseguard, which the Service and the budget select. */}}
{{- define "leaseguard.testLabels" -}}
app.kubernetes.io/name: leaseguard-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "leaseguard.testHook" -}}
helm.sh/hook: test
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: {{ .policy }}
{{- end -}}

{{- define "leaseguard.selector" -}}
app.kubernetes.io/name: leaseguard
{{- end -}}

{{/* The configuration leaseguard reads: the chart's values with the Service it sits behind and the client CA it mounts. */}}
{{- define "leaseguard.config" -}}
{{- $chart := dict "serviceName" .Values.name "webhookConfigurationName" .Values.name -}}
{{- with include "leaseguard.clientCaFile" . -}}
{{- $_ := set $chart "clientCaFile" . -}}
{{- with $.Values.clientCA.subjects }}{{ $_ := set $chart "clientSubjects" . }}{{ end -}}
{{- end -}}
{{- $config := merge $chart (deepCopy .Values.config) -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
The configuration without what a running replica applies live (the log level,
guardedNamespaces; a rule's mode, maxHoldSeconds and namespaces: src/core/config-change.ts): the Deployment's
checksum, so changing only those reloads in place and anything else rolls the Pods.
*/}}
{{- define "leaseguard.configStartOnly" -}}
{{- $config := omit (fromYaml (include "leaseguard.config" .)) "logLevel" "guardedNamespaces" -}}
{{- $rules := list -}}
{{- range ($config.rules | default list) }}{{ $rules = append $rules (omit . "mode" "maxHoldSeconds" "namespaces") }}{{ end -}}
{{- $_ := set $config "rules" $rules -}}
{{- toJson $config -}}
{{- end -}}

{{/*
Where the client CA is mounted (config.clientCaFile), or "" with the explicit
config.allowUnauthenticatedCallers. Every render passes here (the ConfigMap and the
Deployment's checksum include the config), so a chart that would leave /validate open
without saying so does not render.
*/}}
{{- define "leaseguard.clientCaFile" -}}
{{- $ca := .Values.clientCA -}}
{{- $ns := .Release.Namespace -}}
{{- if or (hasKey .Values.config "clientCaFile") (hasKey .Values.config "clientSubjects") -}}
{{- fail "set clientCA.secretName (or clientCA.configMapName) and clientCA.subjects, not config.clientCaFile or config.clientSubjects: the chart mounts the client CA and sets both" -}}
{{- end -}}
{{- if and $ca.secretName $ca.configMapName -}}
{{- fail "clientCA: set secretName or configMapName, not both" -}}
{{- end -}}
{{- if .Values.config.allowUnauthenticatedCallers -}}
{{- if or $ca.secretName $ca.configMapName -}}
{{- fail "config.allowUnauthenticatedCallers contradicts clientCA: with a client CA callers are authenticated; drop config.allowUnauthenticatedCallers" -}}
{{- end -}}
{{- if not .Values.admissionFrom -}}
{{- fail `config.allowUnauthenticatedCallers needs admissionFrom: without caller authentication, the NetworkPolicy must admit only the API server to the admission port. Set admissionFrom to NetworkPolicy peers for your control plane's addresses, e.g. --set-json 'admissionFrom=[{"ipBlock":{"cidr":"172.20.0.0/16"}}]'` -}}
{{- end -}}
{{- else if not (or $ca.secretName $ca.configMapName) -}}
{{- fail (printf "clientCA is not set: leaseguard takes locks only for the API server, known by its client certificate. 1) leaseguard certs --dir certs, then leaseguard apiserver-config --certs certs --service %s --namespace %s --out apiserver, and start kube-apiserver with --admission-control-config-file=apiserver/admission-config.yaml (its kubeconfig where that file says); 2) kubectl -n %s create secret generic leaseguard-client-ca --from-file=ca.crt=certs/ca.crt; 3) set clientCA.secretName=leaseguard-client-ca. Only where the API server cannot present a certificate (managed clusters): set config.allowUnauthenticatedCallers=true and admissionFrom to its addresses. Docs: docs/install.md" .Values.name $ns $ns) -}}
{{- else -}}
{{- printf "/client-ca/%s" $ca.key -}}
{{- end -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for the Deployment and the test hook's Pod alike. */}}
{{- define "leaseguard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "leaseguard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "leaseguard.image" -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}{{- end -}}

{{- define "leaseguard.secretName" -}}{{ .Values.certificates.secretName | default (printf "%s-tls" .Values.name) }}{{- end -}}

{{- define "leaseguard.admissionPort" -}}{{ .Values.config.admissionPort | default 8443 }}{{- end -}}
{{- define "leaseguard.metricsPort" -}}{{ .Values.config.metricsPort | default 9090 }}{{- end -}}

{{/*
matchConditions of the validating webhook: an UPDATE reaches leaseguard only when it
changes a guarded object's key. The conditions are leaseguard's own (src/webhook-config.ts
writes files/key-change-conditions.json, one template per key-path depth): this fills the
template of each rule's depth with toJson of its literals, as `leaseguard webhook-config`
does. Renders a YAML list.
*/}}
{{- define "leaseguard.keyChangeConditions" -}}
{{- $templates := (.Files.Get "files/key-change-conditions.json" | fromJson).expressions -}}
{{- range $i, $r := .Values.config.rules }}
{{- $parts := splitList "." $r.keyPath -}}
{{- if gt (len $parts) (len $templates) -}}
{{- fail (printf "rule %s: keyPath %s has %d segments; the chart's webhook conditions cover %d: register the webhooks with leaseguard webhook-config instead" $r.kind $r.keyPath (len $parts) (len $templates)) -}}
{{- end -}}
{{- $e := index $templates (sub (len $parts) 1) -}}
{{- range $j, $p := $parts }}{{ $e = replace (printf "<<%d>>" $j) (toJson $p) $e }}{{ end -}}
{{- $e = $e | replace "<<group>>" (toJson $r.group) | replace "<<resource>>" (toJson $r.resource) }}
- name: {{ regexReplaceAll "[^A-Za-z0-9]+$" (printf "key-changed-%d-%s" $i $r.resource | trunc 63) "" }}
  expression: {{ $e | quote }}
{{- end -}}
{{- end -}}

{{/* One webhook rule per guarded group/version, naming exactly its resources. */}}
{{- define "leaseguard.admissionRules" -}}
{{- $ops := .ops -}}
{{- $gvs := list -}}
{{- $byGv := dict -}}
{{- range .rules -}}
{{- $gv := printf "%s/%s" .group .version -}}
{{- if not (hasKey $byGv $gv) -}}
{{- $gvs = append $gvs (dict "group" .group "version" .version "gv" $gv) -}}
{{- $_ := set $byGv $gv list -}}
{{- end -}}
{{- $_ := set $byGv $gv (append (get $byGv $gv) .resource | uniq) -}}
{{- end -}}
{{- range $gvs }}
- apiGroups: [{{ .group | quote }}]
  apiVersions: [{{ .version | quote }}]
  resources: {{ get $byGv .gv | toJson }}
  operations: {{ $ops | toJson }}
  scope: "*"
{{- end -}}
{{- end -}}

{{/* The guarded API groups, each once, in the order the rules name them. */}}
{{- define "leaseguard.groups" -}}
{{- $groups := list -}}
{{- range .Values.config.rules }}{{ $groups = append $groups .group }}{{ end -}}
{{- $groups | uniq | toJson -}}
{{- end -}}

{{/* The namespaces whose requests never reach leaseguard, and the opt-out label. */}}
{{- define "leaseguard.namespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ list "kube-system" .Release.Namespace | uniq | toJson }}
  - key: leaseguard.kubernaut.ai/ignore
    operator: NotIn
    values: ["true"]
{{- end -}}

{{/*
The serving certificate with source helm: generated once, then read back from the Secret
on every upgrade so the caBundle and the Pods' certificate stay the same. Returns a dict
of ca.crt, tls.crt, tls.key (PEM). Cached in .Values so both templates see one pair.
*/}}
{{- define "leaseguard.helmCertificate" -}}
{{- if not (hasKey .Values.certificates "_generated") -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "leaseguard.secretName" .) -}}
{{- if and $existing (index ($existing.data | default dict) "ca.crt") -}}
{{- $_ := set .Values.certificates "_generated" (dict "ca.crt" (index $existing.data "ca.crt" | b64dec) "tls.crt" (index $existing.data "tls.crt" | b64dec) "tls.key" (index $existing.data "tls.key" | b64dec)) -}}
{{- else -}}
{{- $svc := .Values.name -}}
{{- $ns := .Release.Namespace -}}
{{- $ca := genCA (printf "%s-ca" $svc) (int .Values.certificates.validityDays) -}}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc $ns) nil $dns (int .Values.certificates.validityDays) $ca -}}
{{- $_ := set .Values.certificates "_generated" (dict "ca.crt" $ca.Cert "tls.crt" $cert.Cert "tls.key" $cert.Key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "leaseguard.caBundle" -}}
{{- if eq .Values.certificates.source "helm" -}}
{{- include "leaseguard.helmCertificate" . -}}
{{- index .Values.certificates._generated "ca.crt" | b64enc -}}
{{- else if eq .Values.certificates.source "provided" -}}
{{- required "certificates.caBundle is required with certificates.source provided: base64 of the PEM CA that signed the serving certificate" .Values.certificates.caBundle -}}
{{- end -}}
{{- end -}}
