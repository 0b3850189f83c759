{{/*
Labels on every object's metadata (not on selectors, which stay
app.kubernetes.io/name only, as in the first kustomize manifests).
*/}}
{{- define "raysense.labels" -}}
app.kubernetes.io/part-of: raysense
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "raysense.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The controllers, one per rayClusters entry, with every default resolved:
  {items: [{name, namespace, raycluster, dashboardUrl, tokenSecret, tokenKey,
            dryRun, config}]}
Use: (include "raysense.controllers" . | fromYaml).items
*/}}
{{- define "raysense.controllers" -}}
{{- $rcs := .Values.rayClusters | default list -}}
{{- $several := gt (len $rcs) 1 -}}
{{- $seen := dict -}}
items:
{{- range $i, $rc := $rcs }}
{{- if not $rc.namespace }}{{ fail (printf "rayClusters[%d].namespace is required" $i) }}{{ end }}
{{- if not $rc.name }}{{ fail (printf "rayClusters[%d].name is required" $i) }}{{ end }}
{{- $name := $rc.controllerName | default (ternary (printf "raysense-controller-%s" $rc.name) "raysense-controller" $several) }}
{{- if gt (len $name) 63 }}{{ fail (printf "controller name %q is longer than 63 characters: set rayClusters[%d].controllerName" $name $i) }}{{ end }}
{{- if hasKey $seen $name }}{{ fail (printf "two rayClusters entries get the controller name %q: set controllerName" $name) }}{{ end }}
{{- $_ := set $seen $name true }}
{{- $tok := $rc.dashboardToken | default dict }}
- name: {{ $name }}
  namespace: {{ $rc.namespace }}
  raycluster: {{ $rc.name }}
  dashboardUrl: {{ $rc.dashboardUrl | default (printf "http://%s-head-svc.%s.svc:8265" $rc.name $rc.namespace) | quote }}
  tokenSecret: {{ $tok.existingSecret | default "" | quote }}
  tokenKey: {{ $tok.key | default "token" | quote }}
  dryRun: {{ $rc.dryRun | default false }}
  config: {{ required (printf "rayClusters[%d].config (controller.json) is required" $i) $rc.config | toJson }}
{{- end }}
{{- end }}

{{/* The controller the agents push to. */}}
{{- define "raysense.pushTarget" -}}
{{- $ctls := (include "raysense.controllers" . | fromYaml).items | default list -}}
{{- $names := list -}}
{{- range $ctls }}{{ $names = append $names .name }}{{ end -}}
{{- $target := .Values.agent.pushTo | default (first $names | default "") -}}
{{- if and $target (not (has $target $names)) (.Values.controller.enabled) -}}
{{- fail (printf "agent.pushTo %q is none of this release's controllers %v" $target $names) -}}
{{- end -}}
{{- $target -}}
{{- end }}

{{/*
The NetworkPolicy ingress rule for a probe port: (dict "port" P "from" PEERS),
used when networkPolicy.probeFrom is set (without it none is needed: the
kubelet's probes come from the pod's own node, which NetworkPolicy always
admits).
*/}}
{{- define "raysense.probeIngress" -}}
# The kubelet's probes (/healthz, /readyz), for a CNI that does not admit
# node-local traffic by itself (networkPolicy.probeFrom).
- from:
    {{- toYaml .from | nindent 4 }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end }}
