// SPDX-License-Identifier: Apache-2.0

//go:build linux

package e2etest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestExampleConfigsBindLoopback is the exposure lint: in every collector
// configuration the project ships (testdata/, the systemd config, the
// Kubernetes ConfigMap and Helm values), everything that listens binds the
// loopback address. The only exception is the kubelet's health probe in
// Kubernetes, bound to the pod IP of a pod that has its own network
// namespace (hostNetwork: false, checked too).
func TestExampleConfigsBindLoopback(t *testing.T) {
	root := filepath.Join("..", "..")
	configs := map[string]map[string]any{}
	files, err := filepath.Glob(filepath.Join(root, "testdata", "*.yaml"))
	require.NoError(t, err)
	files = append(files, filepath.Join(root, "deploy", "systemd", "config.yaml"))
	for _, f := range files {
		configs[f] = readYAML(t, f)
	}
	cm := readYAML(t, filepath.Join(root, "deploy", "kubernetes", "configmap.yaml"))
	var embedded map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(dig(cm, "data", "config.yaml").(string)), &embedded))
	configs["deploy/kubernetes/configmap.yaml data.config.yaml"] = embedded
	helm := readYAML(t, filepath.Join(root, "deploy", "kubernetes", "helm-values.yaml"))
	configs["deploy/kubernetes/helm-values.yaml config"] = dig(helm, "config").(map[string]any)

	podIPAllowed := map[string]bool{
		"deploy/kubernetes/configmap.yaml data.config.yaml": true,
		"deploy/kubernetes/helm-values.yaml config":         true,
	}
	assert.Equal(t, false, dig(helm, "hostNetwork"), "helm-values.yaml: the pod IP is the node's with hostNetwork")
	ds := readYAML(t, filepath.Join(root, "deploy", "kubernetes", "daemonset.yaml"))
	assert.Equal(t, false, dig(ds, "spec", "template", "spec", "hostNetwork"), "daemonset.yaml: the pod IP is the node's with hostNetwork")

	checked := 0
	for name, cfg := range configs {
		for _, l := range listeners(cfg) {
			checked++
			host := bindHost(l.value)
			switch {
			case host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]":
			case host == "${env:MY_POD_IP}" && podIPAllowed[name]:
			default:
				t.Errorf("%s: %s = %q binds %q, not the loopback address", name, l.key, l.value, host)
			}
		}
	}
	// The lint must have found the endpoints it is meant to check.
	assert.GreaterOrEqual(t, checked, 2*len(files), "too few listening endpoints found: is the lint still reading the configs?")
}

// TestBindHost pins down what the lint takes for the host part.
func TestBindHost(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9464": "127.0.0.1",
		"${env:KE_PROM_ENDPOINT:-127.0.0.1:9464}": "127.0.0.1",
		"${env:KE_PROM_ENDPOINT}":                 "${env:KE_PROM_ENDPOINT}",
		"${env:MY_POD_IP}:13133":                  "${env:MY_POD_IP}",
		"0.0.0.0:9464":                            "0.0.0.0",
		":9464":                                   "",
		"[::1]:9464":                              "[::1]",
		"localhost:13133":                         "localhost",
	} {
		assert.Equal(t, want, bindHost(in), in)
	}
}

type listener struct{ key, value string }

// listeners returns the settings that make the collector listen: endpoint
// of every receiver and extension (exporters' endpoints are destinations),
// the Prometheus exporter's endpoint, and the host of the collector's own
// pull metrics readers.
func listeners(cfg map[string]any) []listener {
	var out []listener
	var walk func(path string, v any, listening bool)
	walk = func(path string, v any, listening bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(path+"::"+k, c, listening)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), c, listening)
			}
		case string:
			key := path[strings.LastIndex(path, "::")+2:]
			if listening && (key == "endpoint" || key == "host") {
				out = append(out, listener{strings.TrimPrefix(path, "::"), x})
			}
		}
	}
	for _, section := range []string{"receivers", "extensions"} {
		if m, ok := cfg[section].(map[string]any); ok {
			walk("::"+section, m, true)
		}
	}
	if m, ok := cfg["exporters"].(map[string]any); ok {
		for name, c := range m {
			if name == "prometheus" || strings.HasPrefix(name, "prometheus/") {
				walk("::exporters::"+name, c, true)
			}
		}
	}
	if r := dig(cfg, "service", "telemetry", "metrics", "readers"); r != nil {
		walk("::service::telemetry::metrics::readers", r, true)
	}
	return out
}

var envDefault = regexp.MustCompile(`^\$\{env:[A-Za-z_][A-Za-z0-9_]*:-(.*)\}$`)

// bindHost returns the host part of an endpoint, seeing through
// ${env:VAR:-default} to the default.
func bindHost(endpoint string) string {
	if m := envDefault.FindStringSubmatch(endpoint); m != nil {
		endpoint = m[1]
	}
	if strings.HasPrefix(endpoint, "${") {
		if i := strings.Index(endpoint, "}"); i >= 0 {
			return endpoint[:i+1]
		}
	}
	if strings.HasPrefix(endpoint, "[") {
		if i := strings.Index(endpoint, "]"); i >= 0 {
			return endpoint[:i+1]
		}
	}
	if i := strings.LastIndex(endpoint, ":"); i >= 0 && !strings.Contains(endpoint[:i], ":") {
		return endpoint[:i]
	}
	return endpoint
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(b, &m), path)
	return m
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
