// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The feature gate that makes health_check answer from component status
// (healthcheckextension v0.162.0 keeps the old Ready/NotReady behaviour
// without it, and refuses the http/component_health form).
const componentStatusGate = "extension.healthcheck.useComponentStatus"

// launcher is what runs the collector: its arguments, where each of its
// environment variables comes from ("spec.nodeName", "metadata.name",
// "status.podIP" for the downward API, "%H" for systemd's host name) and
// its liveness and readiness probes (nil outside Kubernetes).
type launcher struct {
	args      []string
	envSource map[string]string
	ports     []corev1.ContainerPort
	liveness  *corev1.Probe
	readiness *corev1.Probe
}

// nodeAttr is a resource attribute the agent must set on every resource it
// sends, and the sources its value may come from.
type nodeAttr struct {
	key     string
	sources []string
}

var (
	// In Kubernetes: the node (downward API spec.nodeName) and the agent.
	kubeNodeAttrs = []nodeAttr{
		{"host.name", []string{"spec.nodeName"}},
		{"k8s.node.name", []string{"spec.nodeName"}},
		{"service.instance.id", []string{"spec.nodeName", "metadata.name", "metadata.uid"}},
	}
	// On a host (systemd): its name, from the unit's %H.
	hostNodeAttrs = []nodeAttr{
		{"host.name", []string{"%H"}},
		{"service.instance.id", []string{"%H", "%m"}},
	}
	// ${env:NAME}, or ${env:NAME:-fallback}: NAME is the source.
	envOnly = regexp.MustCompile(`^\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-.*)?\}$`)
)

// checkFleetPolicy checks what keeps the agent correct in a fleet:
//   - every pipeline stamps the node on every resource (a resource processor
//     upserting attrs from the launcher's environment), so two nodes' series
//     never merge at a gateway;
//   - health_check reports component status (the gate is on, permanent
//     errors count), and the probes ask its status path on its port, so a
//     receiver whose reader died makes the liveness probe fail.
func checkFleetPolicy(p *problems, where string, doc map[string]any, l launcher, attrs []nodeAttr) {
	procs, _ := doc["processors"].(map[string]any)
	svc, _ := doc["service"].(map[string]any)
	pipes, _ := svc["pipelines"].(map[string]any)
	for name, pv := range pipes {
		pl, _ := pv.(map[string]any)
		list, _ := pl["processors"].([]any)
		set := map[string]string{} // attribute -> env source
		for _, idv := range list {
			id, _ := idv.(string)
			if typ, _, _ := strings.Cut(id, "/"); typ != "resource" {
				continue
			}
			cfg, _ := procs[id].(map[string]any)
			actions, _ := cfg["attributes"].([]any)
			for _, av := range actions {
				a, _ := av.(map[string]any)
				key, _ := a["key"].(string)
				action, _ := a["action"].(string)
				val, _ := a["value"].(string)
				if action != "upsert" {
					continue
				}
				if m := envOnly.FindStringSubmatch(val); m != nil {
					set[key] = l.envSource[m[1]]
				} else {
					set[key] = "literal " + val
				}
			}
		}
		for _, want := range attrs {
			got, ok := set[want.key]
			switch {
			case !ok:
				p.add(where, "service.pipelines.%s: no resource processor upserts %s: at a gateway this node's series would merge with other nodes'", name, want.key)
			case !contains(want.sources, got):
				p.add(where, "service.pipelines.%s: %s comes from %q, want an environment variable set from %v", name, want.key, got, want.sources)
			}
		}
	}

	// Health from component status.
	ext, _ := doc["extensions"].(map[string]any)
	hc, _ := ext["health_check"].(map[string]any)
	if hc == nil {
		p.add(where, "extensions.health_check: none, so nothing can tell a dead receiver from a live one")
		return
	}
	ch, _ := hc["component_health"].(map[string]any)
	if ch["include_permanent_errors"] != true {
		p.add(where, "extensions.health_check.component_health.include_permanent_errors must be true: the receiver reports a stopped reader as a permanent error")
	}
	httpCfg, _ := hc["http"].(map[string]any)
	if httpCfg == nil {
		p.add(where, "extensions.health_check.http: not set; the legacy form ignores component status")
		return
	}
	status, _ := httpCfg["status"].(map[string]any)
	if status["enabled"] == false {
		p.add(where, "extensions.health_check.http.status.enabled is false")
	}
	path := "/status"
	if s, ok := status["path"].(string); ok {
		path = s
	}
	port := 0
	if ep, _ := httpCfg["endpoint"].(string); ep != "" {
		if _, ps, ok := cutLastColon(ep); ok {
			port, _ = strconv.Atoi(ps)
		}
	}
	gate := false
	for _, a := range l.args {
		v, ok := strings.CutPrefix(a, "--feature-gates=")
		if !ok {
			continue
		}
		for _, g := range strings.Split(v, ",") {
			if g == componentStatusGate || g == "+"+componentStatusGate {
				gate = true
			}
		}
	}
	if !gate {
		p.add(where, "the collector runs without --feature-gates=+%s: health_check then refuses its http/component_health settings (and would ignore component status)", componentStatusGate)
	}
	if l.liveness == nil && l.readiness == nil {
		return
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", l.liveness}, {"readinessProbe", l.readiness}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			p.add(where, "%s: want an httpGet on health_check's %s", pr.name, path)
			continue
		}
		if pr.probe.HTTPGet.Path != path {
			p.add(where, "%s: path %q, want health_check's status path %q", pr.name, pr.probe.HTTPGet.Path, path)
		}
		got := pr.probe.HTTPGet.Port.IntValue()
		if name := pr.probe.HTTPGet.Port.StrVal; name != "" {
			got = 0
			for _, cp := range l.ports {
				if cp.Name == name {
					got = int(cp.ContainerPort)
				}
			}
		}
		if got != port {
			p.add(where, "%s: port %s is %d, but health_check listens on %d", pr.name, pr.probe.HTTPGet.Port.String(), got, port)
		}
	}
}

// kubeLauncher describes a container as the launcher of its collector.
func kubeLauncher(c *corev1.Container) launcher {
	l := launcher{args: append(append([]string{}, c.Command...), c.Args...), envSource: map[string]string{},
		ports: c.Ports, liveness: c.LivenessProbe, readiness: c.ReadinessProbe}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			l.envSource[e.Name] = e.ValueFrom.FieldRef.FieldPath
		default:
			l.envSource[e.Name] = fmt.Sprintf("literal %s", e.Value)
		}
	}
	return l
}
