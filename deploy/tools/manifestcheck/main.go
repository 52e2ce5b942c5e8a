// SPDX-License-Identifier: Apache-2.0

// Command manifestcheck validates the deployment files under deploy/ without a
// cluster or a network: Kubernetes manifests (strict decoding, the API
// server's own validation code, and this project's policy), the Helm values,
// collector configurations (only components the ocb build has) and the
// Grafana dashboard. deploy/check.sh runs it; each subcommand exits non-zero
// and prints every problem it finds.
//
//	manifestcheck kube [flags] KUSTOMIZATION_DIR_OR_FILE...
//	manifestcheck helm-values [flags] VALUES.yaml
//	manifestcheck collector-config [flags] CONFIG.yaml
//	manifestcheck dashboard [flags] DASHBOARD.json
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// problems collects every failure of a run, so one run shows them all.
type problems struct{ list []string }

func (p *problems) add(where, format string, args ...any) {
	p.list = append(p.list, where+": "+fmt.Sprintf(format, args...))
}

func (p *problems) exit(what string) {
	if len(p.list) == 0 {
		fmt.Printf("ok: %s\n", what)
		return
	}
	sort.Strings(p.list)
	for _, s := range p.list {
		fmt.Fprintln(os.Stderr, "FAIL "+s)
	}
	fmt.Fprintf(os.Stderr, "%s: %d problem(s)\n", what, len(p.list))
	os.Exit(1)
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// componentFlags are the flags every subcommand that checks a collector
// configuration shares.
type componentFlags struct {
	builder     string
	additions   multiFlag
	allowListen multiFlag
	strippedOut string
	image       string
	argsOut     string
}

func (c *componentFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.builder, "builder", "builder-config.yaml", "the ocb builder configuration: the components the collector has")
	fs.Var(&c.additions, "addition", "KIND=GOMOD: a documented component not yet in the build, allowed in configs (repeatable)")
	fs.Var(&c.allowListen, "allow-listen", "COMPONENT=HOST: a listener allowed to bind HOST instead of loopback (repeatable)")
	fs.StringVar(&c.strippedOut, "stripped-out", "", "write the collector config without the additions here, for `otelcol validate`")
	fs.StringVar(&c.image, "image", "", "the image reference the agent must run (what `make image` builds)")
	fs.StringVar(&c.argsOut, "args-out", "", "write the collector's command-line arguments but --config here, one a line, for `otelcol validate`")
}

func (c *componentFlags) load() (*components, map[string]string, error) {
	comps, err := loadBuilderConfig(c.builder)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range c.additions {
		kind, mod, ok := strings.Cut(a, "=")
		if !ok {
			return nil, nil, fmt.Errorf("-addition %q: want KIND=GOMOD", a)
		}
		if err := comps.add(kind, mod, false); err != nil {
			return nil, nil, err
		}
	}
	listen := map[string]string{}
	for _, a := range c.allowListen {
		id, host, ok := strings.Cut(a, "=")
		if !ok {
			return nil, nil, fmt.Errorf("-allow-listen %q: want COMPONENT=HOST", a)
		}
		listen[id] = host
	}
	return comps, listen, nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: manifestcheck kube|helm-values|collector-config|dashboard [flags] FILE...")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "kube":
		runKube(args)
	case "helm-values":
		runHelmValues(args)
	case "collector-config":
		runCollectorConfig(args)
	case "dashboard":
		runDashboard(args)
	default:
		usage()
	}
}

func runCollectorConfig(args []string) {
	fs := flag.NewFlagSet("collector-config", flag.ExitOnError)
	var cf componentFlags
	cf.register(fs)
	unit := fs.String("unit", "", "the systemd unit that runs this config: its ExecStart and Environment= are checked with it (fleet policy)")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	var p problems
	comps, listen, err := cf.load()
	if err != nil {
		p.add(cf.builder, "%v", err)
		p.exit("collector config")
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		p.add(file, "%v", err)
		p.exit(file)
	}
	res := checkCollectorConfig(&p, file, data, comps, listen)
	if *unit != "" && res != nil {
		l, err := unitLauncher(*unit)
		if err != nil {
			p.add(*unit, "%v", err)
		} else {
			checkFleetPolicy(&p, file, res.doc, l, hostNodeAttrs)
			for _, v := range res.envVars {
				if _, ok := l.envSource[v]; !ok {
					p.add(file, "uses ${env:%s}, which %s does not set (Environment=)", v, *unit)
				}
			}
		}
	}
	writeStripped(&p, file, cf.strippedOut, res)
	p.exit(file)
}

func writeStripped(p *problems, where, out string, res *configResult) {
	if out == "" || res == nil {
		return
	}
	if err := os.WriteFile(out, res.stripped, 0o644); err != nil {
		p.add(where, "writing %s: %v", out, err)
	}
}

// unitLauncher reads a systemd unit's ExecStart arguments and Environment=
// assignments (a value that is a specifier such as %H is its source).
func unitLauncher(file string) (launcher, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return launcher{}, err
	}
	l := launcher{envSource: map[string]string{}}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			l.args = strings.Fields(strings.TrimLeft(v, "-+@:!"))
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			for _, kv := range strings.Fields(v) {
				k, val, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				l.envSource[k] = val
			}
		}
	}
	if len(l.args) == 0 {
		return l, fmt.Errorf("no ExecStart=")
	}
	return l, nil
}

// checkImage and writeArgs serve the -image and -args-out flags for the
// agent's container.
func (c *componentFlags) checkImage(p *problems, where, image string) {
	if c.image != "" && image != c.image {
		p.add(where, "image %q: want %q, the image `make image` builds (deploy/README.md says how to push it to your registry)", image, c.image)
	}
}

func (c *componentFlags) writeArgs(p *problems, where string, args []string) {
	if c.argsOut == "" {
		return
	}
	var b strings.Builder
	for _, a := range args {
		if !strings.HasPrefix(a, "--config=") && !strings.HasPrefix(a, "/") {
			b.WriteString(a + "\n")
		}
	}
	if err := os.WriteFile(c.argsOut, []byte(b.String()), 0o644); err != nil {
		p.add(where, "writing %s: %v", c.argsOut, err)
	}
}
