// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"sort"

	"go.yaml.in/yaml/v3"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// chartKeys are the top-level values of the opentelemetry-collector chart
// (0.170.x); anything else is a typo the chart would silently ignore.
var chartKeys = []string{
	"nameOverride", "fullnameOverride", "mode", "apiVersion", "namespaceOverride", "presets",
	"configMap", "internalTelemetryViaOTLP", "rewriteDeprecatedComponentNames", "config",
	"alternateConfig", "image", "imagePullSecrets", "command", "serviceAccount", "clusterRole",
	"podSecurityContext", "securityContext", "nodeSelector", "tolerations", "affinity",
	"topologySpreadConstraints", "priorityClassName", "runtimeClassName",
	"terminationGracePeriodSeconds", "extraEnvs", "extraEnvsFrom", "extraVolumes",
	"extraVolumeMounts", "extraManifests", "ports", "useGOMEMLIMIT", "resizePolicy", "resources",
	"enableConfigChecksumAnnotation", "podAnnotations", "podLabels", "additionalLabels",
	"hostNetwork", "hostPID", "hostAliases", "dnsPolicy", "dnsConfig", "schedulerName",
	"replicaCount", "revisionHistoryLimit", "annotations", "extraContainers", "initContainers",
	"lifecycleHooks", "livenessProbe", "readinessProbe", "startupProbe", "service", "ingress",
	"httproute", "podMonitor", "serviceMonitor", "podDisruptionBudget", "autoscaling", "rollout",
	"prometheusRule", "statefulset", "networkPolicy", "shareProcessNamespace", "global",
}

// chartDefaultConfig is the part of the chart's default `config` that
// matters here: the components it brings, which values must remove (null)
// when the collector build lacks them, and its default listeners.
const chartDefaultConfig = `
exporters:
  debug: {}
extensions:
  health_check:
    endpoint: ${env:MY_POD_IP}:13133
processors:
  batch: {}
  memory_limiter: {check_interval: 5s, limit_percentage: 80, spike_limit_percentage: 25}
receivers:
  jaeger:
    protocols:
      grpc: {endpoint: "${env:MY_POD_IP}:14250"}
  otlp:
    protocols:
      grpc: {endpoint: "${env:MY_POD_IP}:4317"}
      http: {endpoint: "${env:MY_POD_IP}:4318"}
  prometheus:
    config: {}
  zipkin:
    endpoint: ${env:MY_POD_IP}:9411
service:
  telemetry:
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: "${env:MY_POD_IP}", port: 8888}}}
  extensions: [health_check]
  pipelines:
    logs: {exporters: [debug], processors: [memory_limiter, batch], receivers: [otlp]}
    metrics: {exporters: [debug], processors: [memory_limiter, batch], receivers: [otlp, prometheus]}
    traces: {exporters: [debug], processors: [memory_limiter, batch], receivers: [otlp, jaeger, zipkin]}
`

// chartEnv are the variables the chart sets in the collector container
// (K8S_NODE_* with the kubernetesAttributes preset in daemonset mode).
var chartEnv = []string{"MY_POD_IP", "OTEL_K8S_NODE_NAME", "OTEL_K8S_NODE_IP", "OTEL_K8S_NAMESPACE", "OTEL_K8S_POD_NAME", "OTEL_K8S_POD_IP", "GOMEMLIMIT"}

// chartEnvFields are the downward-API fields the chart sets those from.
var chartEnvFields = map[string]string{
	"MY_POD_IP": "status.podIP", "OTEL_K8S_NODE_NAME": "spec.nodeName", "OTEL_K8S_NODE_IP": "status.hostIP",
	"OTEL_K8S_NAMESPACE": "metadata.namespace", "OTEL_K8S_POD_NAME": "metadata.name", "OTEL_K8S_POD_IP": "status.podIP",
	"K8S_NODE_NAME": "spec.nodeName", "K8S_NODE_IP": "status.hostIP",
}

// chartPorts are the chart's default ports, enabled unless values say not.
var chartPorts = map[string]int32{"otlp": 4317, "otlp-http": 4318, "jaeger-compact": 6831, "jaeger-thrift": 14268, "jaeger-grpc": 14250, "zipkin": 9411}

func runHelmValues(args []string) {
	fs := flag.NewFlagSet("helm-values", flag.ExitOnError)
	var cf componentFlags
	cf.register(fs)
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	file := fs.Arg(0)
	var p problems
	comps, listen, err := cf.load()
	if err != nil {
		p.add(cf.builder, "%v", err)
		p.exit(file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		p.add(file, "%v", err)
		p.exit(file)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		p.add(file, "not valid YAML: %v", err)
		p.exit(file)
	}
	for k := range v {
		if !contains(chartKeys, k) {
			p.add(file, "unknown chart value %q", k)
		}
	}
	get := func(path ...string) any {
		var cur any = v
		for _, k := range path {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		return cur
	}
	if get("mode") != "daemonset" {
		p.add(file, "mode must be daemonset")
	}
	repo, _ := get("image", "repository").(string)
	tag, _ := get("image", "tag").(string)
	if repo == "" || tag == "" {
		p.add(file, "image.repository and image.tag must be set (the chart's default image has no kernel_events receiver)")
	}
	if name, _ := get("command", "name").(string); name != "otelcol-kernelevents" {
		p.add(file, "command.name must be otelcol-kernelevents (the chart runs /<name>)")
	}
	kattr := get("presets", "kubernetesAttributes", "enabled") == true
	if !kattr {
		p.add(file, "presets.kubernetesAttributes.enabled must be true (RBAC and K8S_NODE_NAME for k8s_attributes)")
	}
	if get("alternateConfig") != nil {
		if m, _ := get("alternateConfig").(map[string]any); len(m) > 0 {
			p.add(file, "alternateConfig is not checked here: use config")
		}
	}

	// The pod the chart renders, in the parts values control.
	var podSC corev1.PodSecurityContext
	var sc corev1.SecurityContext
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	var tols []corev1.Toleration
	var resources corev1.ResourceRequirements
	var extraEnv []corev1.EnvVar
	strictJSON(&p, file, "podSecurityContext", get("podSecurityContext"), &podSC)
	strictJSON(&p, file, "securityContext", get("securityContext"), &sc)
	strictJSON(&p, file, "extraVolumes", get("extraVolumes"), &vols)
	strictJSON(&p, file, "extraVolumeMounts", get("extraVolumeMounts"), &mounts)
	strictJSON(&p, file, "tolerations", get("tolerations"), &tols)
	strictJSON(&p, file, "resources", get("resources"), &resources)
	strictJSON(&p, file, "extraEnvs", get("extraEnvs"), &extraEnv)

	// The chart's probes: its defaults (GET / on 13133) with the values'
	// livenessProbe/readinessProbe merged over them.
	probe := func(key string) *corev1.Probe {
		def := map[string]any{"httpGet": map[string]any{"path": "/", "port": 13133}}
		merged := mergeValues(def, asMap(get(key)))
		var pr corev1.Probe
		strictJSON(&p, file, key, merged, &pr)
		return &pr
	}
	var extraArgs []string
	strictJSON(&p, file, "command.extraArgs", get("command", "extraArgs"), &extraArgs)
	container := corev1.Container{
		Name:            "opentelemetry-collector",
		Image:           repo + ":" + tag,
		Command:         []string{"/otelcol-kernelevents"},
		Args:            append([]string{"--config=/conf/relay.yaml"}, extraArgs...),
		SecurityContext: &sc,
		Resources:       resources,
		Env:             extraEnv,
		VolumeMounts:    append([]corev1.VolumeMount{{Name: "opentelemetry-collector-configmap", MountPath: "/conf"}}, mounts...),
		LivenessProbe:   probe("livenessProbe"),
		ReadinessProbe:  probe("readinessProbe"),
	}
	env := append([]string{}, chartEnv...)
	if kattr {
		env = append(env, "K8S_NODE_NAME", "K8S_NODE_IP")
	}
	for _, name := range env {
		ev := corev1.EnvVar{Name: name, Value: "x"}
		if fp, ok := chartEnvFields[name]; ok {
			ev = corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: fp}}}
		}
		container.Env = append(container.Env, ev)
	}
	for _, e := range extraEnv {
		env = append(env, e.Name)
	}
	ports, _ := get("ports").(map[string]any)
	names := []string{}
	for name := range chartPorts {
		names = append(names, name)
	}
	for name := range ports {
		if _, ok := chartPorts[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		pv, _ := ports[name].(map[string]any)
		if pv != nil && pv["enabled"] == false {
			continue
		}
		port := chartPorts[name]
		if n, ok := pv["containerPort"].(int); ok {
			port = int32(n)
		}
		hostPort := port // the chart sets hostPort on every enabled port in daemonset mode
		if n, ok := pv["hostPort"].(int); ok {
			hostPort = int32(n)
		}
		container.Ports = append(container.Ports, corev1.ContainerPort{Name: name, ContainerPort: port, HostPort: hostPort, Protocol: corev1.ProtocolTCP})
	}
	labels := map[string]string{"app.kubernetes.io/name": "opentelemetry-collector", "component": "agent-collector"}
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "kernelevents-opentelemetry-collector-agent", Namespace: "kernelevents"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "kernelevents-opentelemetry-collector",
					SecurityContext:    &podSC,
					HostPID:            get("hostPID") == true,
					HostNetwork:        get("hostNetwork") == true,
					Tolerations:        tols,
					Containers:         []corev1.Container{container},
					Volumes: append([]corev1.Volume{{
						Name: "opentelemetry-collector-configmap",
						VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: "kernelevents-opentelemetry-collector-agent"},
							Items:                []corev1.KeyToPath{{Key: "relay", Path: "relay.yaml"}},
						}},
					}}, vols...),
				},
			},
		},
	}
	legacyscheme.Scheme.Default(ds)
	where := file + " (the DaemonSet the chart renders)"
	validate(&p, kubeObject{where: where, gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}, obj: ds})
	checkPodPolicy(&p, where, &ds.Spec.Template.Spec)

	// The collector configuration: the chart's defaults, values merged over
	// them (null deletes), then the preset's processor.
	var base map[string]any
	if err := yaml.Unmarshal([]byte(chartDefaultConfig), &base); err != nil {
		panic(err)
	}
	userCfg, _ := get("config").(map[string]any)
	cfg := mergeValues(base, userCfg)
	if kattr {
		procs, _ := cfg["processors"].(map[string]any)
		if procs == nil {
			procs = map[string]any{}
			cfg["processors"] = procs
		}
		preset := map[string]any{"filter": map[string]any{"node_from_env_var": "K8S_NODE_NAME"}, "passthrough": false}
		own, _ := procs["k8s_attributes"].(map[string]any)
		procs["k8s_attributes"] = mergeValues(preset, own)
		svc, _ := cfg["service"].(map[string]any)
		pls, _ := svc["pipelines"].(map[string]any)
		for _, pv := range pls {
			pl, _ := pv.(map[string]any)
			list, _ := pl["processors"].([]any)
			if !containsAny(list, "k8s_attributes") && !containsAny(list, "k8sattributes") {
				pl["processors"] = append([]any{"k8s_attributes"}, list...)
			}
		}
	}
	raw, _ := yaml.Marshal(cfg)
	res := checkCollectorDoc(&p, file+" config (merged over the chart's defaults)", cfg, raw, comps, listen)
	for _, name := range res.envVars {
		if !contains(env, name) {
			p.add(file, "config uses ${env:%s}, which the chart's pod does not set", name)
		}
	}
	if res != nil {
		checkFleetPolicy(&p, file+" config", cfg, kubeLauncher(&container), kubeNodeAttrs)
	}
	cf.checkImage(&p, file, container.Image)
	cf.writeArgs(&p, file, container.Args)
	writeStripped(&p, file, cf.strippedOut, res)
	p.exit(file)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// strictJSON decodes a values subtree into a Kubernetes type, refusing
// unknown fields.
func strictJSON(p *problems, file, key string, v any, into any) {
	if v == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		p.add(file, "%s: %v", key, err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		p.add(file, "%s: %v", key, err)
	}
}

// mergeValues merges over into base as Helm merges values: maps recursively,
// anything else replaced, null deleting the key.
func mergeValues(base, over map[string]any) map[string]any {
	out := deepCopy(base).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
			out[k] = mergeValues(nil, om)
			continue
		}
		out[k] = deepCopy(v)
	}
	return out
}

func containsAny(list []any, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
