// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kernelevents/kernelevents/internal/event"
)

// Match says which creations a rule binds. Every field set must match; a
// rule with no field set is refused.
//
// Comm is chosen by the process itself (prctl PR_SET_NAME, or exec of a copy
// of a binary under that name): a rule on comm alone lets any program claim
// its identity. Pair it with uid, executable or cgroup, which the process
// cannot choose.
type Match struct {
	UID         *uint32 `mapstructure:"uid" yaml:"uid"`
	GID         *uint32 `mapstructure:"gid" yaml:"gid"`
	User        string  `mapstructure:"user" yaml:"user"`
	Executable  string  `mapstructure:"executable" yaml:"executable"` // glob on the absolute path
	Comm        string  `mapstructure:"comm" yaml:"comm"`             // exact task name
	Cgroup      string  `mapstructure:"cgroup" yaml:"cgroup"`         // glob on the cgroup v2 (or v1) path
	ContainerID string  `mapstructure:"container_id" yaml:"container_id"`
	// SPIFFEID is a glob on the SPIFFE IDs the SPIRE agent issued to the
	// creator (identity::spire); it never matches without one.
	SPIFFEID string `mapstructure:"spiffe_id" yaml:"spiffe_id"`
}

// Rule binds matching creations to an accountable identity: its attributes
// go on the resource of every series it matches.
type Rule struct {
	// Name identifies the rule in the kernelevents.identity.rule attribute; default
	// "rule-<index>".
	Name       string            `mapstructure:"name" yaml:"name"`
	Match      Match             `mapstructure:"match" yaml:"match"`
	Attributes map[string]string `mapstructure:"attributes" yaml:"attributes"`
}

// RuleAttribute names the rule that matched a workload ("unmatched" when
// none did, unless the unmatched attributes say otherwise).
const RuleAttribute = "kernelevents.identity.rule"

// Facts are what is known of the creator when rules are matched.
type Facts struct {
	// EUID and EGID are the effective ids (a rule's uid and gid match
	// them), RUID the real uid: event.Event's names.
	EUID, EGID  uint32
	RUID        uint32
	User        string
	Executable  string
	Comm        string
	Cgroup      string
	ContainerID string
	PodUID      string
	// Pod is the pod PodUID names, from the pod inventory
	// (identity::kubernetes); zero without one or when it does not know
	// the pod.
	Pod Pod
	// SPIFFE is what the SPIRE agent said (identity::spire).
	SPIFFE SPIFFEFacts
}

// compiledRule is a validated rule.
type compiledRule struct {
	name       string
	m          Match
	exe, cg    *Glob
	containerG *Glob
	spiffeG    *Glob
	attrs      map[string]string
}

// Rules is a validated, ordered rule list.
type Rules struct {
	rules []compiledRule
}

// CompileRules validates rules; errors name the rule by index and key, with
// prefix in front (the config key the list lives under).
func CompileRules(prefix string, rules []Rule) (*Rules, error) {
	var errs []error
	out := &Rules{}
	for i, r := range rules {
		key := fmt.Sprintf("%s[%d]", prefix, i)
		bad := func(sub, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s::%s: %s", key, sub, fmt.Sprintf(format, args...)))
		}
		c := compiledRule{name: r.Name, m: r.Match, attrs: r.Attributes}
		if c.name == "" {
			c.name = fmt.Sprintf("rule-%d", i)
		}
		m := r.Match
		if m.UID == nil && m.GID == nil && m.User == "" && m.Executable == "" && m.Comm == "" && m.Cgroup == "" && m.ContainerID == "" && m.SPIFFEID == "" {
			bad("match", "set at least one of uid, gid, user, executable, comm, cgroup, container_id, spiffe_id")
		}
		if m.SPIFFEID != "" {
			if !strings.HasPrefix(m.SPIFFEID, "spiffe://") {
				bad("match::spiffe_id", "%q must start with spiffe://", m.SPIFFEID)
			} else if g, err := CompileGlob(m.SPIFFEID); err != nil {
				bad("match::spiffe_id", "%v", err)
			} else {
				c.spiffeG = &g
			}
		}
		if m.Executable != "" {
			if !strings.HasPrefix(m.Executable, "/") && !strings.HasPrefix(m.Executable, "*") {
				bad("match::executable", "%q must be an absolute path or start with a wildcard", m.Executable)
			} else if g, err := CompileGlob(m.Executable); err != nil {
				bad("match::executable", "%v", err)
			} else {
				c.exe = &g
			}
		}
		if m.Cgroup != "" {
			if g, err := CompileGlob(m.Cgroup); err != nil {
				bad("match::cgroup", "%v", err)
			} else {
				c.cg = &g
			}
		}
		if m.ContainerID != "" {
			if g, err := CompileGlob(m.ContainerID); err != nil {
				bad("match::container_id", "%v", err)
			} else {
				c.containerG = &g
			}
		}
		if len(m.Comm) > event.CommLen-1 {
			bad("match::comm", "%q is longer than the %d bytes the kernel keeps", m.Comm, event.CommLen-1)
		}
		if len(r.Attributes) == 0 {
			bad("attributes", "set at least one attribute (for example service.account, spiffe.id, team)")
		}
		for k := range r.Attributes {
			if k == "" {
				bad("attributes", "empty attribute name")
			}
		}
		out.rules = append(out.rules, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// LoadRulesFile reads a YAML file holding a list of rules (or a map with a
// "rules" key) and compiles it.
func LoadRulesFile(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	var doc struct {
		Rules []Rule `yaml:"rules"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse rules file %s: %w", path, err)
	}
	return CompileRules(path+": rules", doc.Rules)
}

// Then returns r's rules followed by more's, without compiling them again
// (the inline rules before a rules file's).
func (r *Rules) Then(more *Rules) *Rules {
	out := &Rules{}
	if r != nil {
		out.rules = append(out.rules, r.rules...)
	}
	if more != nil {
		out.rules = append(out.rules, more.rules...)
	}
	return out
}

// Len returns the number of rules.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return len(r.rules)
}

// Match returns the first rule matching f, or false.
func (r *Rules) Match(f *Facts) (name string, attrs map[string]string, ok bool) {
	if r == nil {
		return "", nil, false
	}
	for i := range r.rules {
		c := &r.rules[i]
		if c.matches(f) {
			return c.name, c.attrs, true
		}
	}
	return "", nil, false
}

func (c *compiledRule) matches(f *Facts) bool {
	m := &c.m
	switch {
	case m.UID != nil && *m.UID != f.EUID,
		m.GID != nil && *m.GID != f.EGID,
		m.User != "" && m.User != f.User,
		m.Comm != "" && m.Comm != f.Comm,
		c.exe != nil && (f.Executable == "" || !c.exe.Match(f.Executable)),
		c.cg != nil && !c.cg.Match(f.Cgroup),
		c.containerG != nil && (f.ContainerID == "" || !c.containerG.Match(f.ContainerID)),
		c.spiffeG != nil && !matchSPIFFE(c.spiffeG, f):
		return false
	}
	return true
}
