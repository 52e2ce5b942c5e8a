// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"k8s.io/kubernetes/pkg/api/legacyscheme"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/rbac"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
)

// The agent's security policy: what deploy/README.md ("Capabilities")
// explains, checked on every pod spec.
var (
	wantCaps = []string{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE"}
	// Host paths the agent may mount (read-only), and those it must.
	allowedHostPaths  = []string{"/sys/kernel/tracing", "/sys/kernel/btf", "/sys/fs/cgroup", "/proc"}
	requiredHostPaths = []string{"/sys/kernel/tracing", "/sys/kernel/btf", "/sys/fs/cgroup"}
)

// strictCodecs decode with unknown and duplicate fields as errors.
var strictCodecs = serializer.NewCodecFactory(legacyscheme.Scheme, serializer.EnableStrict)

type kubeObject struct {
	where string // file and document index
	gvk   schema.GroupVersionKind
	obj   runtime.Object // the versioned (v1) object, defaulted
}

func runKube(args []string) {
	fs := flag.NewFlagSet("kube", flag.ExitOnError)
	var cf componentFlags
	cf.register(fs)
	fs.Parse(args)
	if fs.NArg() == 0 {
		usage()
	}
	var p problems
	comps, listen, err := cf.load()
	if err != nil {
		p.add(cf.builder, "%v", err)
		p.exit("kubernetes manifests")
	}
	var objs []kubeObject
	for _, arg := range fs.Args() {
		files, err := expandKustomization(&p, arg)
		if err != nil {
			p.add(arg, "%v", err)
			continue
		}
		for _, f := range files {
			objs = append(objs, decodeFile(&p, f)...)
		}
	}
	res := checkKubeObjects(&p, objs, comps, listen, &cf)
	writeStripped(&p, "configmap", cf.strippedOut, res)
	p.exit(fmt.Sprintf("kubernetes manifests (%d objects)", len(objs)))
}

// expandKustomization returns the resource files of a kustomization (a
// directory or its kustomization.yaml), after checking that it lists every
// manifest in its directory; any other argument is a manifest file itself
// ("-" is standard input).
func expandKustomization(p *problems, arg string) ([]string, error) {
	kfile := arg
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		kfile = filepath.Join(arg, "kustomization.yaml")
	} else if filepath.Base(arg) != "kustomization.yaml" {
		return []string{arg}, nil
	}
	data, err := os.ReadFile(kfile)
	if err != nil {
		return nil, err
	}
	var k struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Resources  []string `yaml:"resources"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("%s: %v", kfile, err)
	}
	if k.Kind != "Kustomization" || !strings.HasPrefix(k.APIVersion, "kustomize.config.k8s.io/") {
		p.add(kfile, "not a Kustomization (apiVersion %q, kind %q)", k.APIVersion, k.Kind)
	}
	dir := filepath.Dir(kfile)
	listed := map[string]bool{}
	var files []string
	for _, r := range k.Resources {
		f := filepath.Join(dir, r)
		if _, err := os.Stat(f); err != nil {
			p.add(kfile, "resource %s: %v", r, err)
			continue
		}
		listed[filepath.Clean(f)] = true
		files = append(files, f)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range all {
		base := filepath.Base(f)
		if base == "kustomization.yaml" || strings.HasPrefix(base, "helm-values") {
			continue
		}
		if !listed[filepath.Clean(f)] {
			p.add(kfile, "%s is in the directory but not in resources", base)
		}
	}
	return files, nil
}

// decodeFile decodes every document of a YAML stream strictly, then defaults
// it as the API server would.
func decodeFile(p *problems, file string) []kubeObject {
	var r io.Reader
	if file == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			p.add(file, "%v", err)
			return nil
		}
		defer f.Close()
		r = f
	}
	var out []kubeObject
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		where := fmt.Sprintf("%s[%d]", file, i)
		if err != nil {
			p.add(where, "%v", err)
			break
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := strictCodecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			p.add(where, "%v", err)
			continue
		}
		legacyscheme.Scheme.Default(obj)
		out = append(out, kubeObject{where: fmt.Sprintf("%s (%s %s)", where, gvk.Kind, nameOf(obj)), gvk: *gvk, obj: obj})
	}
	return out
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

func nameOf(obj runtime.Object) string {
	if m, ok := obj.(interface{ GetName() string }); ok {
		return m.GetName()
	}
	return "?"
}

// validate runs the API server's validation for the object's internal form.
func validate(p *problems, o kubeObject) {
	internal, err := legacyscheme.Scheme.UnsafeConvertToVersion(o.obj.DeepCopyObject(), schema.GroupVersion{Group: o.gvk.Group, Version: runtime.APIVersionInternal})
	if err != nil {
		p.add(o.where, "converting to the internal version: %v", err)
		return
	}
	var errs field.ErrorList
	var warnings []string
	switch t := internal.(type) {
	case *apps.DaemonSet:
		errs = appsvalidation.ValidateDaemonSet(t, podutil.GetValidationOptionsFromPodTemplate(&t.Spec.Template, nil))
		warnings = podutil.GetWarningsForPodTemplate(context.Background(), field.NewPath("spec", "template"), &t.Spec.Template, nil)
	case *core.ConfigMap:
		errs = corevalidation.ValidateConfigMap(t)
	case *core.ServiceAccount:
		errs = corevalidation.ValidateServiceAccount(t)
	case *core.Namespace:
		errs = corevalidation.ValidateNamespace(t)
	case *rbac.ClusterRole:
		errs = rbacvalidation.ValidateClusterRole(t, rbacvalidation.ClusterRoleValidationOptions{})
	case *rbac.ClusterRoleBinding:
		errs = rbacvalidation.ValidateClusterRoleBinding(t)
	default:
		p.add(o.where, "kind %s is not checked by manifestcheck: add its validation to kube.go", o.gvk.Kind)
	}
	for _, e := range errs {
		p.add(o.where, "invalid: %v", e)
	}
	for _, w := range warnings {
		p.add(o.where, "API server warning: %s", w)
	}
}

// checkKubeObjects validates each object, then what ties them together: the
// DaemonSet's service account, its RBAC, its ConfigMap and the collector
// configuration in it, and the security policy.
func checkKubeObjects(p *problems, objs []kubeObject, comps *components, listen map[string]string, cf *componentFlags) *configResult {
	type key struct{ kind, ns, name string }
	index := map[key]kubeObject{}
	for _, o := range objs {
		validate(p, o)
		m := o.obj.(interface {
			GetName() string
			GetNamespace() string
		})
		k := key{o.gvk.Kind, m.GetNamespace(), m.GetName()}
		if prev, dup := index[k]; dup {
			p.add(o.where, "same kind, namespace and name as %s", prev.where)
		}
		index[k] = o
	}

	var res *configResult
	var daemonSets int
	for _, o := range objs {
		ds, ok := o.obj.(*appsv1.DaemonSet)
		if !ok {
			continue
		}
		daemonSets++
		ns := ds.Namespace
		if _, ok := index[key{"Namespace", "", ns}]; !ok {
			p.add(o.where, "namespace %q is not among the manifests", ns)
		} else {
			nsObj := index[key{"Namespace", "", ns}].obj.(*corev1.Namespace)
			if nsObj.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
				p.add(o.where, "namespace %q must enforce the privileged Pod Security level: hostPID, hostPath and the added capabilities are refused by baseline", ns)
			}
		}
		spec := &ds.Spec.Template.Spec
		// Service account and its permissions.
		sa := spec.ServiceAccountName
		if _, ok := index[key{"ServiceAccount", ns, sa}]; !ok || sa == "" {
			p.add(o.where, "serviceAccountName %q: no such ServiceAccount in namespace %q among the manifests", sa, ns)
		}
		checkRBAC(p, o.where, objs, ns, sa)

		// The ConfigMap holding the collector configuration.
		cfgFile := ""
		for _, c := range spec.Containers {
			for _, a := range append(append([]string{}, c.Command...), c.Args...) {
				if v, ok := strings.CutPrefix(a, "--config="); ok {
					cfgFile = strings.TrimPrefix(v, "file:")
				}
			}
		}
		if cfgFile == "" {
			p.add(o.where, "no --config=FILE argument")
		}
		cfgData, env := "", map[string]bool{}
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				env[e.Name] = true
			}
			for _, vm := range c.VolumeMounts {
				vol := findVolume(spec, vm.Name)
				if vol == nil || vol.ConfigMap == nil {
					continue
				}
				cmObj, ok := index[key{"ConfigMap", ns, vol.ConfigMap.Name}]
				if !ok {
					p.add(o.where, "volume %q: ConfigMap %q is not among the manifests", vol.Name, vol.ConfigMap.Name)
					continue
				}
				cm := cmObj.obj.(*corev1.ConfigMap)
				items := vol.ConfigMap.Items
				if len(items) == 0 {
					for k := range cm.Data {
						items = append(items, corev1.KeyToPath{Key: k, Path: k})
					}
				}
				for _, it := range items {
					d, ok := cm.Data[it.Key]
					if !ok {
						p.add(o.where, "volume %q: ConfigMap %q has no key %q", vol.Name, cm.Name, it.Key)
						continue
					}
					if filepath.Join(vm.MountPath, it.Path) == cfgFile {
						cfgData = d
					}
				}
			}
		}
		if cfgFile != "" && cfgData == "" {
			p.add(o.where, "--config=%s is not a file of a mounted ConfigMap", cfgFile)
		}
		if cfgData != "" {
			res = checkCollectorConfig(p, o.where+" "+cfgFile, []byte(cfgData), comps, listen)
			if res != nil && len(spec.Containers) > 0 {
				checkFleetPolicy(p, o.where+" "+cfgFile, res.doc, kubeLauncher(&spec.Containers[0]), kubeNodeAttrs)
			}
			if res != nil {
				for _, v := range res.envVars {
					if !env[v] {
						p.add(o.where, "collector config uses ${env:%s}, which the container does not set", v)
					}
				}
			}
		}
		checkPodPolicy(p, o.where, spec)
		for i := range spec.Containers {
			cf.checkImage(p, o.where, spec.Containers[i].Image)
			cf.writeArgs(p, o.where, append(append([]string{}, spec.Containers[i].Command...), spec.Containers[i].Args...))
		}
	}
	if daemonSets != 1 {
		p.add("manifests", "want exactly one DaemonSet, found %d", daemonSets)
	}
	return res
}

func findVolume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// checkRBAC: some ClusterRoleBinding among objs binds the service account to
// a ClusterRole that lets the k8s_attributes processor get, list and watch
// pods, namespaces and replicasets.
func checkRBAC(p *problems, where string, objs []kubeObject, ns, sa string) {
	need := map[string]bool{"/pods": false, "/namespaces": false, "apps/replicasets": false}
	roles := map[string]*rbacv1.ClusterRole{}
	for _, o := range objs {
		if r, ok := o.obj.(*rbacv1.ClusterRole); ok {
			roles[r.Name] = r
		}
	}
	bound := false
	for _, o := range objs {
		b, ok := o.obj.(*rbacv1.ClusterRoleBinding)
		if !ok {
			continue
		}
		subject := false
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == ns {
				subject = true
			}
		}
		if !subject {
			continue
		}
		role, ok := roles[b.RoleRef.Name]
		if b.RoleRef.Kind != "ClusterRole" || !ok {
			p.add(o.where, "roleRef %s %q is not a ClusterRole among the manifests", b.RoleRef.Kind, b.RoleRef.Name)
			continue
		}
		bound = true
		for _, r := range role.Rules {
			verbs := map[string]bool{}
			for _, v := range r.Verbs {
				verbs[v] = true
			}
			if !(verbs["*"] || verbs["get"] && verbs["list"] && verbs["watch"]) {
				continue
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					if _, ok := need[g+"/"+res]; ok {
						need[g+"/"+res] = true
					}
				}
			}
		}
		for _, r := range role.Rules {
			for _, v := range r.Verbs {
				if !contains([]string{"get", "list", "watch"}, v) {
					p.add(o.where, "ClusterRole %q grants %q: the agent only reads", role.Name, v)
				}
			}
		}
	}
	if !bound {
		p.add(where, "no ClusterRoleBinding binds ServiceAccount %s/%s to a ClusterRole among the manifests", ns, sa)
		return
	}
	var missing []string
	for k, ok := range need {
		if !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		p.add(where, "service account %s/%s cannot get/list/watch %v (k8s_attributes needs them)", ns, sa, missing)
	}
}

// checkPodPolicy checks the security settings deploy/README.md promises.
func checkPodPolicy(p *problems, where string, spec *corev1.PodSpec) {
	if !spec.HostPID {
		p.add(where, "hostPID must be true: the receiver reads /proc/<pid> of host processes")
	}
	if spec.HostNetwork {
		p.add(where, "hostNetwork must be false: loopback listeners would be the node's")
	}
	if spec.HostIPC {
		p.add(where, "hostIPC is not needed")
	}
	hostVolumes := map[string]string{}
	seen := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.HostPath == nil {
			continue
		}
		hostVolumes[v.Name] = v.HostPath.Path
		seen[v.HostPath.Path] = true
		if !contains(allowedHostPaths, v.HostPath.Path) {
			p.add(where, "volume %q mounts host path %s, which is not one the agent needs (%v)", v.Name, v.HostPath.Path, allowedHostPaths)
		}
	}
	for _, hp := range requiredHostPaths {
		if !seen[hp] {
			p.add(where, "no hostPath volume for %s", hp)
		}
	}
	if len(spec.InitContainers)+len(spec.EphemeralContainers) > 0 {
		p.add(where, "init or ephemeral containers are not expected")
	}
	if len(spec.Containers) != 1 {
		p.add(where, "want one container, found %d", len(spec.Containers))
	}
	for _, c := range spec.Containers {
		cw := fmt.Sprintf("%s container %q", where, c.Name)
		for _, vm := range c.VolumeMounts {
			if hp, ok := hostVolumes[vm.Name]; ok && !vm.ReadOnly {
				p.add(cw, "host path %s must be mounted readOnly", hp)
			}
		}
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				p.add(cw, "port %q has hostPort %d: nothing on the node is to be exposed", port.Name, port.HostPort)
			}
		}
		checkSecurityContext(p, cw, c.SecurityContext, spec.SecurityContext)
	}
}

func checkSecurityContext(p *problems, where string, sc *corev1.SecurityContext, psc *corev1.PodSecurityContext) {
	if sc == nil {
		p.add(where, "no securityContext")
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		p.add(where, "privileged: true; the agent needs only its four capabilities")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add(where, "allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.add(where, "readOnlyRootFilesystem must be true")
	}
	uid := sc.RunAsUser
	if uid == nil && psc != nil {
		uid = psc.RunAsUser
	}
	if uid == nil || *uid != 0 {
		p.add(where, "runAsUser must be 0: the capabilities are granted to root (an unprivileged uid gets none without file capabilities)")
	}
	if sc.Capabilities == nil {
		p.add(where, "no capabilities: drop ALL and add %v", wantCaps)
		return
	}
	var drop []string
	for _, c := range sc.Capabilities.Drop {
		drop = append(drop, string(c))
	}
	if len(drop) != 1 || drop[0] != "ALL" {
		p.add(where, "capabilities.drop is %v, want [ALL]", drop)
	}
	var add []string
	for _, c := range sc.Capabilities.Add {
		s := string(c)
		if strings.HasPrefix(s, "CAP_") {
			p.add(where, "capability %q: Kubernetes names capabilities without the CAP_ prefix", s)
		}
		add = append(add, s)
	}
	sort.Strings(add)
	if strings.Join(add, ",") != strings.Join(wantCaps, ",") {
		p.add(where, "capabilities.add is %v, want exactly %v", add, wantCaps)
	}
}
