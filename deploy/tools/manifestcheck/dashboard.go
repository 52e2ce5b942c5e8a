// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The receiver's metrics as the Prometheus exporter names them, and the
// labels whose names look like metric names.
var (
	knownMetrics = []string{
		"kernel_file_creations_total", "kernel_events_received_total", "kernel_events_lost_total",
		"kernel_probe_hook", "kernel_series_active", "kernel_series_overflowed_total",
	}
	knownLabels = []string{"kernelevents_hook"}
)

var (
	metricToken = regexp.MustCompile(`\b(kernel_[a-z0-9_]+|[a-z_][a-z0-9_]*:[a-z0-9_:]+)\b`)
	// Grafana variables: $name, ${name}, ${name:format}, [[name]].
	grafanaVar  = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)
	labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
	queryResult = regexp.MustCompile(`^\s*query_result\((.+)\)\s*$`)
	// Grafana's interval variables and what to put in their place.
	grafanaBuiltins = map[string]string{
		"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600",
		"__interval_ms": "60000", "__range_ms": "3600000",
	}
)

func runDashboard(args []string) {
	fs := flag.NewFlagSet("dashboard", flag.ExitOnError)
	var rules multiFlag
	fs.Var(&rules, "rules", "a Prometheus rules file whose recorded series the dashboard may use (repeatable)")
	promqlOut := fs.String("promql-out", "", "write the queries, variables substituted, as recording rules here for `promtool check rules`")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	file := fs.Arg(0)
	var p problems
	known := map[string]bool{}
	for _, m := range knownMetrics {
		known[m] = true
	}
	for _, rf := range rules {
		data, err := os.ReadFile(rf)
		if err != nil {
			p.add(rf, "%v", err)
			continue
		}
		var rd struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(data, &rd); err != nil {
			p.add(rf, "%v", err)
		}
		for _, g := range rd.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					known[r.Record] = true
				}
			}
		}
	}

	data, err := os.ReadFile(file)
	if err != nil {
		p.add(file, "%v", err)
		p.exit(file)
	}
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		p.add(file, "not valid JSON: %v", err)
		p.exit(file)
	}
	for _, k := range []string{"title", "uid"} {
		if s, _ := d[k].(string); s == "" {
			p.add(file, "no %s", k)
		}
	}
	if sv, _ := d["schemaVersion"].(float64); sv < 36 {
		p.add(file, "schemaVersion %v: want 36 or later", d["schemaVersion"])
	}
	// The data source is a variable, not an import input: Grafana fills
	// __inputs only when a user imports the JSON by hand, while file
	// provisioning and the kube-prometheus-stack sidecar load it as it is, so
	// a ${DS_...} reference would stay unresolved there.
	if inputs, _ := d["__inputs"].([]any); len(inputs) > 0 {
		p.add(file, "__inputs: a data source import input breaks provisioning (the sidecar does not substitute ${DS_...}); use the datasource variable")
	}
	if strings.Contains(string(data), "${DS_") {
		p.add(file, "a ${DS_...} import placeholder is left: every datasource must be ${datasource}")
	}
	{
		tmpl, _ := d["templating"].(map[string]any)
		list, _ := tmpl["list"].([]any)
		ok := false
		if len(list) > 0 {
			m, _ := list[0].(map[string]any)
			ok = m["name"] == "datasource" && m["type"] == "datasource" && m["query"] == "prometheus"
		}
		if !ok {
			p.add(file, "templating: the first variable must be \"datasource\" of type datasource, query prometheus (the other variables query through it)")
		}
	}

	// Template variables and the value each stands for in a query.
	vars := map[string]string{}
	tmpl, _ := d["templating"].(map[string]any)
	varList, _ := tmpl["list"].([]any)
	for _, v := range varList {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		typ, _ := m["type"].(string)
		if name == "" {
			p.add(file, "templating: a variable without a name")
			continue
		}
		switch typ {
		case "custom":
			opts, _ := m["options"].([]any)
			val := ""
			if len(opts) > 0 {
				o, _ := opts[0].(map[string]any)
				val, _ = o["value"].(string)
			}
			if val == "" {
				q, _ := m["query"].(string)
				val = strings.TrimSpace(strings.Split(q, ",")[0])
				if k, v, ok := strings.Cut(val, " : "); ok {
					_, val = k, v
				}
			}
			vars[name] = val
		case "query":
			checkDatasource(&p, file, "templating "+name, m["datasource"])
			vars[name] = ".+"
		case "datasource", "interval", "constant", "textbox", "adhoc":
			vars[name] = ".+"
		default:
			p.add(file, "templating %s: unexpected type %q", name, typ)
		}
	}

	type query struct{ where, record, expr string }
	var queries []query
	for _, v := range varList {
		m, _ := v.(map[string]any)
		if m["type"] != "query" {
			continue
		}
		q := m["query"]
		if qm, ok := q.(map[string]any); ok {
			q = qm["query"]
		}
		s, _ := q.(string)
		// Grafana's query functions around PromQL.
		if g := labelValues.FindStringSubmatch(s); g != nil {
			s = g[1]
		} else if g := queryResult.FindStringSubmatch(s); g != nil {
			s = g[1]
		}
		if s != "" {
			queries = append(queries, query{fmt.Sprintf("templating %v", m["name"]), fmt.Sprintf("dashboard:var_%s", slug(fmt.Sprint(m["name"]))), s})
		}
	}

	ids := map[float64]string{}
	used := map[string]bool{}
	var walkPanels func(list []any, inRow bool)
	walkPanels = func(list []any, inRow bool) {
		for _, pv := range list {
			pm, _ := pv.(map[string]any)
			title, _ := pm["title"].(string)
			typ, _ := pm["type"].(string)
			where := fmt.Sprintf("panel %q", title)
			if title == "" || typ == "" {
				p.add(file, "%s: a panel needs a title and a type", where)
			}
			id, ok := pm["id"].(float64)
			if !ok {
				p.add(file, "%s: no id", where)
			} else if prev, dup := ids[id]; dup {
				p.add(file, "%s: id %v already used by %s", where, id, prev)
			} else {
				ids[id] = where
			}
			gp, _ := pm["gridPos"].(map[string]any)
			h, _ := gp["h"].(float64)
			w, _ := gp["w"].(float64)
			x, _ := gp["x"].(float64)
			if _, hasY := gp["y"].(float64); h <= 0 || w <= 0 || x < 0 || x+w > 24 || !hasY {
				p.add(file, "%s: gridPos %v: want h, w > 0, y set and x+w <= 24", where, gp)
			}
			if typ == "row" {
				sub, _ := pm["panels"].([]any)
				walkPanels(sub, true)
				continue
			}
			checkDatasource(&p, file, where, pm["datasource"])
			targets, _ := pm["targets"].([]any)
			if len(targets) == 0 && typ != "text" {
				p.add(file, "%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, tv := range targets {
				tm, _ := tv.(map[string]any)
				expr, _ := tm["expr"].(string)
				ref, _ := tm["refId"].(string)
				if expr == "" || ref == "" {
					p.add(file, "%s: a query needs expr and refId", where)
					continue
				}
				if refs[ref] {
					p.add(file, "%s: refId %s twice", where, ref)
				}
				refs[ref] = true
				if tm["datasource"] != nil {
					checkDatasource(&p, file, where+" query "+ref, tm["datasource"])
				}
				queries = append(queries, query{where + " query " + ref, "dashboard:" + slug(title) + ":" + ref, expr})
			}
		}
	}
	panels, _ := d["panels"].([]any)
	if len(panels) == 0 {
		p.add(file, "no panels")
	}
	walkPanels(panels, false)

	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var out []rule
	records := map[string]bool{}
	for _, q := range queries {
		if records[q.record] {
			p.add(file, "%s: two panels with the title that names recorded series %s", q.where, q.record)
		}
		records[q.record] = true
		for _, tok := range metricToken.FindAllString(q.expr, -1) {
			if contains(knownLabels, tok) {
				continue
			}
			if !known[tok] {
				p.add(file, "%s: unknown metric %q", q.where, tok)
			}
			used[tok] = true
		}
		expr := grafanaVar.ReplaceAllStringFunc(q.expr, func(s string) string {
			m := grafanaVar.FindStringSubmatch(s)
			name := m[1] + m[2] + m[3]
			if strings.Trim(name, "0123456789") == "" {
				return s // $1: a label_replace group; Grafana leaves unknown names alone
			}
			if v, ok := grafanaBuiltins[name]; ok {
				return v
			}
			if v, ok := vars[name]; ok {
				return v
			}
			p.add(file, "%s: variable $%s is not defined", q.where, name)
			return s
		})
		out = append(out, rule{Record: q.record, Expr: expr})
	}
	var unused []string
	for _, m := range knownMetrics {
		if !used[m] {
			unused = append(unused, m)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		p.add(file, "no panel shows %v", unused)
	}
	if *promqlOut != "" {
		b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard-queries", "rules": out}}})
		if err == nil {
			err = os.WriteFile(*promqlOut, b, 0o644)
		}
		if err != nil {
			p.add(file, "writing %s: %v", *promqlOut, err)
		}
	}
	p.exit(fmt.Sprintf("%s (%d queries)", file, len(queries)))
}

func checkDatasource(p *problems, file, where string, ds any) {
	m, _ := ds.(map[string]any)
	if m["uid"] != "${datasource}" || m["type"] != "prometheus" {
		p.add(file, "%s: datasource %v: want type prometheus, uid ${datasource}", where, ds)
	}
}

// slug makes a panel title part of a metric name: "Creations /s per
// directory" -> "creations_s_per_directory".
func slug(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}
