// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Component kinds of a collector configuration, as builder-config.yaml and
// the configuration name them.
var kinds = []string{"receivers", "processors", "exporters", "extensions", "connectors"}

// knownTypes maps a component's Go package (the last element of its import
// path) to the type names a configuration may use for it, the current name
// first. Packages not listed here get their name less the kind suffix
// (fooreceiver -> foo); list those whose type differs from that.
var knownTypes = map[string][]string{
	"kerneleventsreceiver":       {"kernel_events"},
	"otlpreceiver":               {"otlp"},
	"batchprocessor":             {"batch"},
	"memorylimiterprocessor":     {"memory_limiter"},
	"k8sattributesprocessor":     {"k8s_attributes", "k8sattributes"},
	"resourceprocessor":          {"resource"},
	"resourcedetectionprocessor": {"resourcedetection"},
	"prometheusexporter":         {"prometheus"},
	"debugexporter":              {"debug"},
	"otlpexporter":               {"otlp_grpc", "otlp"},
	"otlphttpexporter":           {"otlp_http", "otlphttp"},
	"healthcheckextension":       {"health_check"},
}

// components is what a configuration may name: per kind, type -> whether
// the ocb build has it (false: a documented addition).
type components struct {
	types map[string]map[string]bool
}

type builderConfig struct {
	Receivers  []builderEntry `yaml:"receivers"`
	Processors []builderEntry `yaml:"processors"`
	Exporters  []builderEntry `yaml:"exporters"`
	Extensions []builderEntry `yaml:"extensions"`
	Connectors []builderEntry `yaml:"connectors"`
}

type builderEntry struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
}

func loadBuilderConfig(file string) (*components, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var bc builderConfig
	if err := yaml.Unmarshal(data, &bc); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	c := &components{types: map[string]map[string]bool{}}
	for kind, list := range map[string][]builderEntry{
		"receivers": bc.Receivers, "processors": bc.Processors, "exporters": bc.Exporters,
		"extensions": bc.Extensions, "connectors": bc.Connectors,
	} {
		for _, e := range list {
			mod := e.Import
			if mod == "" {
				mod, _, _ = strings.Cut(strings.TrimSpace(e.GoMod), " ")
			}
			if err := c.add(kind, mod, true); err != nil {
				return nil, fmt.Errorf("%s: %v", file, err)
			}
		}
	}
	if len(c.types["receivers"]) == 0 || len(c.types["exporters"]) == 0 {
		return nil, fmt.Errorf("%s: no receivers or exporters found", file)
	}
	return c, nil
}

// add allows the component of Go module or package mod under kind.
func (c *components) add(kind, mod string, built bool) error {
	if !contains(kinds, kind) {
		return fmt.Errorf("unknown component kind %q", kind)
	}
	mod, _, _ = strings.Cut(strings.TrimSpace(mod), " ")
	pkg := path.Base(mod)
	if regexp.MustCompile(`^v[0-9]+$`).MatchString(pkg) {
		pkg = path.Base(path.Dir(mod))
	}
	names, ok := knownTypes[pkg]
	if !ok {
		names = []string{strings.TrimSuffix(pkg, strings.TrimSuffix(kind, "s"))}
	}
	if c.types[kind] == nil {
		c.types[kind] = map[string]bool{}
	}
	for _, n := range names {
		c.types[kind][n] = c.types[kind][n] || built
	}
	return nil
}

func (c *components) describe(kind string) string {
	var names []string
	for n, built := range c.types[kind] {
		if !built {
			n += " (documented addition)"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// configResult is what checking a collector configuration yields.
type configResult struct {
	// envVars are the ${env:NAME} references.
	envVars []string
	// stripped is the configuration without the documented additions.
	stripped []byte
	// doc is the parsed configuration.
	doc map[string]any
}

var envRef = regexp.MustCompile(`\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}`)

// checkCollectorConfig checks a collector configuration: valid YAML without
// duplicate keys, only known sections, only components the build has (or
// documented additions), pipelines that name defined components, and
// listeners on loopback unless listen allows a component another host.
func checkCollectorConfig(p *problems, where string, data []byte, comps *components, listen map[string]string) *configResult {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.add(where, "not valid YAML: %v", err)
		return nil
	}
	if doc == nil {
		p.add(where, "empty collector configuration")
		return nil
	}
	return checkCollectorDoc(p, where, doc, data, comps, listen)
}

func checkCollectorDoc(p *problems, where string, doc map[string]any, raw []byte, comps *components, listen map[string]string) *configResult {
	res := &configResult{doc: doc}
	for k := range doc {
		if !contains(kinds, k) && k != "service" {
			p.add(where, "unknown top-level key %q", k)
		}
	}
	defined := map[string]map[string]bool{}
	additions := map[string]map[string]bool{}
	for _, kind := range kinds {
		defined[kind] = map[string]bool{}
		additions[kind] = map[string]bool{}
		sec, ok := doc[kind]
		if !ok || sec == nil {
			continue
		}
		m, ok := sec.(map[string]any)
		if !ok {
			p.add(where, "%s: want a mapping of components", kind)
			continue
		}
		for id := range m {
			typ, _, _ := strings.Cut(id, "/")
			built, known := comps.types[kind][typ]
			if !known {
				p.add(where, "%s.%s: component type %q is not in the collector build (have: %s)", kind, id, typ, comps.describe(kind))
				continue
			}
			defined[kind][id] = true
			if !built {
				additions[kind][id] = true
			}
		}
	}

	svc, _ := doc["service"].(map[string]any)
	if svc == nil {
		p.add(where, "no service section")
		return res
	}
	for k := range svc {
		if !contains([]string{"extensions", "pipelines", "telemetry"}, k) {
			p.add(where, "service: unknown key %q", k)
		}
	}
	for _, id := range stringList(p, where, "service.extensions", svc["extensions"]) {
		if !defined["extensions"][id] {
			p.add(where, "service.extensions: %q is not defined under extensions", id)
		}
	}
	pipes, _ := svc["pipelines"].(map[string]any)
	if len(pipes) == 0 {
		p.add(where, "service.pipelines: none")
	}
	used := map[string]map[string]bool{"receivers": {}, "processors": {}, "exporters": {}}
	for name, v := range pipes {
		signal, _, _ := strings.Cut(name, "/")
		if !contains([]string{"metrics", "logs", "traces", "profiles"}, signal) {
			p.add(where, "service.pipelines.%s: unknown signal %q", name, signal)
		}
		pl, ok := v.(map[string]any)
		if !ok {
			p.add(where, "service.pipelines.%s: want a mapping", name)
			continue
		}
		for k := range pl {
			if !contains([]string{"receivers", "processors", "exporters"}, k) {
				p.add(where, "service.pipelines.%s: unknown key %q", name, k)
			}
		}
		for _, kind := range []string{"receivers", "processors", "exporters"} {
			ids := stringList(p, where, "service.pipelines."+name+"."+kind, pl[kind])
			if kind != "processors" && len(ids) == 0 {
				p.add(where, "service.pipelines.%s: no %s", name, kind)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					p.add(where, "service.pipelines.%s.%s: %q twice", name, kind, id)
				}
				seen[id] = true
				used[kind][id] = true
				if !defined[kind][id] && !defined["connectors"][id] {
					p.add(where, "service.pipelines.%s.%s: %q is not defined under %s", name, kind, id, kind)
				}
			}
		}
	}
	for _, kind := range []string{"receivers", "exporters"} {
		for id := range defined[kind] {
			if !used[kind][id] {
				p.add(where, "%s.%s: defined but in no pipeline", kind, id)
			}
		}
	}

	checkListeners(p, where, doc, listen)

	for _, m := range envRef.FindAllSubmatch(raw, -1) {
		res.envVars = append(res.envVars, string(m[1]))
	}

	// The configuration without the additions, for the built collector.
	stripped := deepCopy(doc).(map[string]any)
	for kind, ids := range additions {
		sec, _ := stripped[kind].(map[string]any)
		for id := range ids {
			delete(sec, id)
		}
	}
	if sp, ok := stripped["service"].(map[string]any); ok {
		if pls, ok := sp["pipelines"].(map[string]any); ok {
			for _, v := range pls {
				pl, _ := v.(map[string]any)
				for kind, ids := range additions {
					list, ok := pl[kind].([]any)
					if !ok {
						continue
					}
					var kept []any
					for _, id := range list {
						if s, _ := id.(string); !ids[s] {
							kept = append(kept, id)
						}
					}
					pl[kind] = kept
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(stripped); err != nil {
		p.add(where, "re-encoding: %v", err)
	}
	res.stripped = buf.Bytes()
	return res
}

// checkListeners: every address the collector listens on binds loopback,
// unless listen names the component and the host it may bind instead.
func checkListeners(p *problems, where string, doc map[string]any, listen map[string]string) {
	check := func(id, field, addr string) {
		host := addr
		if h, _, ok := cutLastColon(addr); ok {
			host = h
		}
		if isLoopback(host) {
			return
		}
		if allowed, ok := listen[id]; ok && allowed == host {
			return
		}
		p.add(where, "%s: %s %q binds %q, not loopback", id, field, addr, host)
	}
	for _, kind := range []string{"receivers", "extensions", "exporters"} {
		sec, _ := doc[kind].(map[string]any)
		for id, v := range sec {
			typ, _, _ := strings.Cut(id, "/")
			if kind == "exporters" && typ != "prometheus" {
				continue // exporters connect out; only the prometheus one serves
			}
			walk(v, func(key string, val any) {
				if s, ok := val.(string); ok && key == "endpoint" {
					check(kind+"."+id, "endpoint", s)
				}
			})
			if kind != "exporters" {
				if _, has := findKey(v, "endpoint"); !has && typ != "kernel_events" {
					p.add(where, "%s.%s: no endpoint set: the default may bind every interface", kind, id)
				}
			}
		}
	}
	svc, _ := doc["service"].(map[string]any)
	tel, _ := svc["telemetry"].(map[string]any)
	met, _ := tel["metrics"].(map[string]any)
	if met == nil || met["level"] == "none" {
		return
	}
	readers, _ := met["readers"].([]any)
	if len(readers) == 0 {
		p.add(where, "service.telemetry.metrics: set readers (pull, host 127.0.0.1) or level: none, so the internal metrics endpoint binds loopback explicitly")
	}
	for i, r := range readers {
		walk(r, func(key string, val any) {
			if key == "prometheus" {
				pm, _ := val.(map[string]any)
				h, _ := pm["host"].(string)
				check(fmt.Sprintf("service.telemetry.metrics.readers[%d]", i), "host", h)
			}
		})
	}
}

func cutLastColon(s string) (string, string, bool) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.HasSuffix(s, "}") {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func isLoopback(h string) bool {
	h = strings.Trim(h, "[]")
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}

// walk calls f for every key/value pair in nested maps and lists.
func walk(v any, f func(key string, val any)) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			f(k, val)
			walk(val, f)
		}
	case []any:
		for _, val := range t {
			walk(val, f)
		}
	}
}

func findKey(v any, key string) (any, bool) {
	var found any
	ok := false
	walk(v, func(k string, val any) {
		if k == key && !ok {
			found, ok = val, true
		}
	})
	return found, ok
}

func stringList(p *problems, where, field string, v any) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		p.add(where, "%s: want a list", field)
		return nil
	}
	var out []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			p.add(where, "%s: %v is not a string", field, e)
			continue
		}
		out = append(out, s)
	}
	return out
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, val := range t {
			m[k] = deepCopy(val)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, val := range t {
			l[i] = deepCopy(val)
		}
		return l
	default:
		return v
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
