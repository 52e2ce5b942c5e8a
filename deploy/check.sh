#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/check.sh: check everything under deploy/ without a cluster, a
# Prometheus, a Grafana or a network beyond Debian's archive and the Go
# module proxy. Installs what it lacks, runs every check, prints each result
# and a closing "N passed, N failed" line, and exits non-zero on any failure.
#
#   bash deploy/check.sh              # the checks (about 10 s on a warm machine)
#   bash deploy/check.sh --self-test  # also breaks a copy of deploy/ in several
#                                     # ways and expects each to fail
#
# What checks what:
#   Kubernetes manifests  deploy/tools/manifestcheck (Go, its own module): strict
#                         decoding (unknown or duplicate fields fail), defaulting
#                         and the API server's own validation code from
#                         k8s.io/kubernetes, then this project's policy (least
#                         capabilities, read-only host mounts, RBAC for
#                         k8s_attributes, the ConfigMap's collector config, the
#                         image `make image` builds, fleet policy: node attributes
#                         on every resource, health from component status with the
#                         feature gate on and the probes on its status path);
#                         `kubectl kustomize` too when kubectl is installed.
#   Helm values           the same tool: known chart keys, strict Kubernetes types,
#                         the pod the chart renders, the merged collector config.
#   collector configs     components of builder-config.yaml, loopback listeners,
#                         then `otelcol-kernelevents validate` of the built
#                         collector, with the arguments its launcher passes, for
#                         every shipped config (ConfigMap, Helm, systemd,
#                         testdata/*.yaml); make test builds the collector first.
#   systemd unit          systemd-analyze verify (in a scratch root) with no
#                         warnings allowed, and systemd-analyze security.
#   Prometheus rules      promtool check rules and promtool test rules; every
#                         alert has a runbook_url whose anchor is in README.md.
#   Grafana dashboard     the tool (structure, datasource input, metric names)
#                         and its queries as recording rules: promtool check
#                         rules and the promtool tests beside the dashboard.
#
# Environment: KERNELEVENTS_COLLECTOR (the collector binary to validate
# configs with), KERNELEVENTS_DEPLOY_CACHE (where promtool and the tool are
# kept), KERNELEVENTS_HELM_CHART (a local opentelemetry-collector chart: with
# helm installed, its rendering of helm-values.yaml is checked as well).
set -euo pipefail

DEPLOY_DIR=${DEPLOY_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
REPO_ROOT=${REPO_ROOT:-$(cd "$DEPLOY_DIR/.." && pwd)}
CACHE=${KERNELEVENTS_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kernelevents-deploy}
COLLECTOR=${KERNELEVENTS_COLLECTOR:-$REPO_ROOT/_build/collector/otelcol-kernelevents}
BUILDER_CONFIG=$REPO_ROOT/builder-config.yaml
# The image `make image` builds: IMAGE_REPO:dist.version of builder-config.yaml.
IMAGE_REPO=${IMAGE_REPO:-localhost/kernelevents/otelcol-kernelevents}
IMAGE=${IMAGE:-$IMAGE_REPO:$(sed -n 's/^  version: *\([^ ]*\).*/\1/p' "$BUILDER_CONFIG" | head -n 1)}
# In Kubernetes only health_check binds the pod IP (the kubelet probes it).
POD_IP_HEALTH='extensions.health_check=${env:MY_POD_IP}'

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$CACHE"
export DEBIAN_FRONTEND=noninteractive

passed=0
failed=0
failures=()

# step NAME CMD...: run a check, show its output only when it fails.
step() {
	local name=$1
	shift
	local log="$work/step.log"
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1))
		printf 'ok    %s\n' "$name"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL  %s\n' "$name"
		sed 's/^/      /' "$log"
	fi
}

# skip NAME WHY: a check that cannot run here, said out loud.
skip() { printf 'skip  %s (%s)\n' "$1" "$2"; }

apt_updated=
apt_update() {
	[[ -n $apt_updated ]] && return 0
	apt-get update -qq
	apt_updated=1
}

# ---- tools ------------------------------------------------------------------

self_test() {
	# Every mutation must make the check fail; the untouched copy must pass.
	local copy="$work/selftest"
	local -a cases=(
		'manifest: unknown field|kubernetes/daemonset.yaml|s/^      hostPID: true/      hostPid: true/'
		'manifest: privileged container|kubernetes/daemonset.yaml|s/privileged: false/privileged: true/'
		'manifest: writable host mount|kubernetes/daemonset.yaml|/name: btf$/{n;n;s/readOnly: true/readOnly: false/}'
		'manifest: component not in the build|kubernetes/configmap.yaml|s/^      resource\/node:$/      transform\/node:/'
		'manifest: node identity not on the resources|kubernetes/configmap.yaml|s/k8s_attributes, resource\/node, batch/k8s_attributes, batch/'
		'manifest: liveness probe not on component status|kubernetes/daemonset.yaml|s|path: /status|path: /|'
		'manifest: health feature gate missing|kubernetes/daemonset.yaml|/--feature-gates=/d'
		'manifest: an image make image does not build|kubernetes/daemonset.yaml|s|image: localhost/kernelevents/|image: ghcr.io/kernelevents/|'
		'rule: hook alert that fires forever on fexit nodes|prometheus/kernelevents-rules.yaml|s/expr: count without (kernelevents_hook) (max_over_time(kernel_probe_hook\[1h\])) > 1/expr: kernel_probe_hook{kernelevents_hook!="kretprobe"} == 1/'
		'rule: no-data alert that fires on idle hosts|prometheus/kernelevents-rules.yaml|s/expr: absent_over_time(kernel_events_received_total\[15m\])$/expr: absent_over_time(kernel_events_received_total[15m]) or increase(kernel_events_received_total[15m]) == 0/'
		'rule: runbook anchor missing in README|prometheus/kernelevents-rules.yaml|s/#alert-kerneleventsabsent/#alert-kerneleventsgone/'
		'dashboard: import input instead of a datasource variable|grafana/kernelevents-dashboard.json|s/\${datasource}/${DS_PROMETHEUS}/g'
		'unit: health feature gate missing|systemd/otelcol-kernelevents.service|s/ --feature-gates=+extension.healthcheck.useComponentStatus//'
		'manifest: endpoint on every interface|kubernetes/configmap.yaml|s/host: 127.0.0.1/host: 0.0.0.0/'
		'manifest: RBAC without replicasets|kubernetes/rbac.yaml|s/resources: \["replicasets"\]/resources: ["deployments"]/'
		'helm values: extra capability|kubernetes/helm-values.yaml|s/"DAC_READ_SEARCH"\]/"DAC_READ_SEARCH", "SYS_ADMIN"]/'
		'helm values: chart default receiver kept|kubernetes/helm-values.yaml|/^    jaeger: null/d'
		'rule: lost-samples threshold|prometheus/kernelevents-rules.yaml|s/\[5m\]) > 0$/[5m]) > 100/'
		'rule: invalid PromQL|prometheus/kernelevents-rules.yaml|s/increase(kernel_series_overflowed_total\[10m\])/increase(kernel_series_overflowed_total[10m)/'
		'unit: misspelt directive|systemd/otelcol-kernelevents.service|s/^NoNewPrivileges=yes/NoNewPrivilege=yes/'
		'unit: sandbox removed|systemd/otelcol-kernelevents.service|/^Protect\|^Private\|^Restrict\|^SystemCall/d'
		'unit: extra capability|systemd/otelcol-kernelevents.service|s/^AmbientCapabilities=CAP_BPF/AmbientCapabilities=CAP_SYS_ADMIN CAP_BPF/'
		'unit config: listener on all interfaces|systemd/config.yaml|s/endpoint: 127.0.0.1:9464/endpoint: 0.0.0.0:9464/'
		'dashboard: unknown metric|grafana/kernelevents-dashboard.json|s/kernel_events_lost_total/kernel_events_dropped_total/'
		'dashboard: broken identity fallback|grafana/kernelevents-dashboard.json|s/sa: $1/svc: $1/'
	)
	local ok=0 bad=0 entry name file expr
	run_copy() { DEPLOY_DIR="$copy" REPO_ROOT="$REPO_ROOT" KERNELEVENTS_DEPLOY_CACHE="$CACHE" bash "$copy/check.sh" >"$work/selftest.log" 2>&1; }
	rm -rf "$copy" && cp -r "$DEPLOY_DIR" "$copy"
	if run_copy; then
		printf 'ok    self-test: the untouched copy passes\n'
		ok=$((ok + 1))
	else
		printf 'FAIL  self-test: the untouched copy fails\n'
		sed 's/^/      /' "$work/selftest.log"
		failures+=("self-test: the untouched copy")
		bad=$((bad + 1))
	fi
	for entry in "${cases[@]}"; do
		IFS='|' read -r name file expr <<<"$entry"
		rm -rf "$copy" && cp -r "$DEPLOY_DIR" "$copy"
		sed -i -e "$expr" "$copy/$file"
		if cmp -s "$DEPLOY_DIR/$file" "$copy/$file"; then
			printf 'FAIL  self-test: %s (the mutation changed nothing)\n' "$name"
			failures+=("self-test: $name")
			bad=$((bad + 1))
		elif run_copy; then
			printf 'FAIL  self-test: %s (the check still passes)\n' "$name"
			failures+=("self-test: $name")
			bad=$((bad + 1))
		else
			printf 'ok    self-test: %s is caught:\n          %s\n' "$name" "$(grep -m1 -A1 '^FAIL' "$work/selftest.log" | tail -n 1 | sed 's/^ *//' | cut -c1-160)"
			ok=$((ok + 1))
		fi
	done
	passed=$((passed + ok))
	failed=$((failed + bad))
}

need_promtool() {
	if command -v promtool >/dev/null 2>&1; then
		PROMTOOL=$(command -v promtool)
		return
	fi
	PROMTOOL=$CACHE/promtool
	[[ -x $PROMTOOL ]] && return
	# Debian's prometheus package ships promtool (a static Go binary). Take
	# just that file from the .deb: installing the package would also
	# install and start a Prometheus server.
	echo "fetching promtool from Debian's prometheus package into $CACHE"
	local dl="$work/deb"
	mkdir -p "$dl"
	(cd "$dl" && { apt-get download prometheus >/dev/null 2>&1 || { apt_update && apt-get download prometheus >/dev/null; }; })
	dpkg-deb --fsys-tarfile "$dl"/prometheus_*.deb | tar -x -O ./usr/bin/promtool >"$PROMTOOL.tmp"
	chmod +x "$PROMTOOL.tmp" && mv "$PROMTOOL.tmp" "$PROMTOOL"
}

need_systemd_analyze() {
	command -v systemd-analyze >/dev/null 2>&1 && [[ -d /usr/lib/systemd/system ]] && return
	echo "installing systemd (for systemd-analyze)"
	apt_update
	apt-get install -y -qq --no-install-recommends systemd >/dev/null
}

build_manifestcheck() {
	# Its own module (deploy/tools/go.mod): the repository's go.mod stays as
	# it is. The first build downloads k8s.io/kubernetes and compiles its
	# validation code (about a minute); later builds come from Go's cache.
	(cd "$DEPLOY_DIR/tools" && GOWORK=off go build -buildvcs=false -o "$CACHE/manifestcheck" ./manifestcheck)
}

command -v go >/dev/null || { echo "deploy/check.sh needs Go (the repository's toolchain)" >&2; exit 1; }
step "tools: build deploy/tools/manifestcheck" build_manifestcheck
need_promtool
need_systemd_analyze
MC=$CACHE/manifestcheck
[[ -x $MC ]] || { echo "manifestcheck did not build" >&2; exit 1; }

# ---- Kubernetes ---------------------------------------------------------------

K8S=$DEPLOY_DIR/kubernetes
step "kubernetes: manifests (strict decode, API validation, policy, collector config)" \
	"$MC" kube -builder "$BUILDER_CONFIG" -image "$IMAGE" -allow-listen "$POD_IP_HEALTH" \
	-stripped-out "$work/k8s-config.yaml" -args-out "$work/k8s-config.args" "$K8S"

if command -v kubectl >/dev/null 2>&1; then
	kustomize_check() {
		kubectl kustomize "$K8S" >"$work/kustomized.yaml"
		"$MC" kube -builder "$BUILDER_CONFIG" -image "$IMAGE" -allow-listen "$POD_IP_HEALTH" "$work/kustomized.yaml"
	}
	step "kubernetes: kubectl kustomize output" kustomize_check
else
	skip "kubernetes: kubectl kustomize output" "no kubectl"
fi

step "kubernetes: helm-values.yaml (chart keys, rendered pod, merged collector config)" \
	"$MC" helm-values -builder "$BUILDER_CONFIG" -image "$IMAGE" -allow-listen "$POD_IP_HEALTH" \
	-stripped-out "$work/helm-config.yaml" -args-out "$work/helm-config.args" "$K8S/helm-values.yaml"

if [[ -n ${KERNELEVENTS_HELM_CHART:-} ]] && command -v helm >/dev/null 2>&1; then
	helm_render_check() {
		helm template kernelevents "$KERNELEVENTS_HELM_CHART" -n kernelevents -f "$K8S/helm-values.yaml" >"$work/helm.yaml"
		"$MC" kube -builder "$BUILDER_CONFIG" -allow-listen "$POD_IP_HEALTH" "$K8S/namespace.yaml" "$work/helm.yaml"
	}
	step "kubernetes: helm template with $KERNELEVENTS_HELM_CHART" helm_render_check
else
	skip "kubernetes: helm template" "set KERNELEVENTS_HELM_CHART to a local chart and install helm to render it"
fi

# ---- systemd ------------------------------------------------------------------

SD=$DEPLOY_DIR/systemd
UNIT=otelcol-kernelevents.service
step "systemd: config.yaml (components, loopback listeners, fleet policy with the unit)" \
	"$MC" collector-config -builder "$BUILDER_CONFIG" -unit "$SD/$UNIT" -stripped-out "$work/systemd-config.yaml" "$SD/config.yaml"
# The unit's arguments but --config, for validate.
sed -n 's/^ExecStart=[-+@:!]*[^ ]*//p' "$SD/$UNIT" | tr ' ' '\n' | grep -v -e '^$' -e '^--config=' >"$work/systemd-config.args" || true

systemd_verify() {
	# A scratch root with the system's units and a stub for every command
	# the unit runs, so the check needs no installed collector; systemd
	# prints unknown directives as warnings only, so any output fails.
	local root="$work/sdroot" cmd out
	mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd"
	cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
	cp "$SD/$UNIT" "$root/etc/systemd/system/$UNIT"
	while read -r cmd; do
		mkdir -p "$root$(dirname "$cmd")"
		printf '#!/bin/sh\n' >"$root$cmd"
		chmod +x "$root$cmd"
	done < <(sed -n 's/^Exec[A-Za-z]*=[-+@:!]*\([^ ]*\).*/\1/p' "$SD/$UNIT")
	out=$(systemd-analyze verify --root="$root" "$UNIT" 2>&1) || { echo "$out"; return 1; }
	[[ -z $out ]] || { echo "$out"; return 1; }
	# Exposure 0 (locked down) to 10 (unprotected); the unit scores about
	# 3.1: fail if hardening is lost.
	systemd-analyze security --offline=yes --threshold=40 --root="$root" "$UNIT" >"$work/security.txt" 2>&1 ||
		{ tail -n 1 "$work/security.txt"; return 1; }
	tail -n 1 "$work/security.txt"
}
step "systemd: systemd-analyze verify + security" systemd_verify

unit_policy() {
	# The least capability set, exactly, in both lists.
	local want="CAP_BPF CAP_DAC_READ_SEARCH CAP_PERFMON CAP_SYS_PTRACE" key got rc=0
	for key in CapabilityBoundingSet AmbientCapabilities; do
		got=$(sed -n "s/^$key=//p" "$SD/$UNIT" | tr ' ' '\n' | sort | xargs)
		[[ $got == "$want" ]] || { echo "$key=$got, want $want"; rc=1; }
	done
	for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=read-only PrivateTmp=yes Restart=on-failure; do
		grep -qx "$line" "$SD/$UNIT" || { echo "missing $line"; rc=1; }
	done
	grep -q '^ExecStartPre=[-@:]*+.*mount -t tracefs' "$SD/$UNIT" || { echo "no privileged (+) ExecStartPre mounting tracefs"; rc=1; }
	grep -q '^ExecStart=.* --config=/etc/otelcol-kernelevents/config.yaml' "$SD/$UNIT" || { echo "ExecStart does not use /etc/otelcol-kernelevents/config.yaml"; rc=1; }
	return $rc
}
step "systemd: least capabilities and sandbox directives" unit_policy

# ---- the configs through the built collector ----------------------------------

# The environment the launchers provide, for the ${env:...} placeholders.
validate_env=(MY_POD_IP=127.0.0.1 K8S_NODE_NAME=node-1 K8S_POD_NAME=agent-1 KERNELEVENTS_HOST_NAME=host-1
	KE_PREFIX=/tmp/ KE_EVIDENCE_FILE="$work/evidence.jsonl")
if [[ -x $COLLECTOR ]]; then
	collector_validate() {
		# Each shipped config with the arguments its launcher passes (the
		# DaemonSet, the chart's extraArgs, the unit's ExecStart).
		local f rc=0 args
		for f in k8s-config helm-config systemd-config; do
			mapfile -t args <"$work/$f.args"
			echo "== $f ${args[*]}"
			env "${validate_env[@]}" "$COLLECTOR" validate --config="$work/$f.yaml" "${args[@]}" || rc=1
		done
		# testdata/: the configs make run and the end-to-end tests use; those
		# with component_health run with the gate (as the tests do), and the
		# invalid one must be refused.
		for f in "$REPO_ROOT"/testdata/*.yaml; do
			args=()
			grep -q '^ *component_health:' "$f" && args=(--feature-gates=+extension.healthcheck.useComponentStatus)
			echo "== testdata/${f##*/} ${args[*]}"
			if [[ ${f##*/} == invalid-* ]]; then
				if env "${validate_env[@]}" "$COLLECTOR" validate --config="$f" >"$work/invalid.log" 2>&1; then
					echo "testdata/${f##*/} passed validate; it must be refused"
					rc=1
				fi
			else
				env "${validate_env[@]}" "$COLLECTOR" validate --config="$f" "${args[@]}" || rc=1
			fi
		done
		return $rc
	}
	step "collector: otelcol-kernelevents validate (ConfigMap, Helm, systemd and testdata configs)" collector_validate
elif [[ ${CI:-} == true ]]; then
	step "collector: otelcol-kernelevents validate" false
	echo "      no $COLLECTOR under CI=true: make test builds it before deploy-check"
else
	skip "collector: otelcol-kernelevents validate" "no $COLLECTOR; run make build"
fi

# ---- Prometheus -----------------------------------------------------------------

PROM=$DEPLOY_DIR/prometheus
step "prometheus: promtool check rules" "$PROMTOOL" check rules "$PROM/kernelevents-rules.yaml"
step "prometheus: promtool test rules (every alert firing and not)" \
	"$PROMTOOL" test rules "$PROM/kernelevents-rules.test.yaml"
runbooks() {
	# Every alert links a runbook, a row of README.md's troubleshooting
	# table whose anchor exists.
	local rules="$PROM/kernelevents-rules.yaml" readme="$REPO_ROOT/README.md" rc=0 n_alerts n_urls frag
	local base='https://github.com/kernelevents/kernelevents/blob/main/README.md#'
	n_alerts=$(grep -c '^ *- alert:' "$rules")
	n_urls=$(grep -c "^ *runbook_url: ${base}" "$rules")
	((n_alerts == n_urls)) || { echo "$n_alerts alerts, $n_urls runbook_url annotations into $base"; rc=1; }
	while read -r frag; do
		grep -q "id=\"$frag\"" "$readme" || { echo "runbook_url #$frag: no such anchor in README.md"; rc=1; }
	done < <(sed -n "s|^ *runbook_url: ${base}||p" "$rules")
	return $rc
}
step "prometheus: every alert has a runbook_url into README.md's troubleshooting table" runbooks

# ---- Grafana --------------------------------------------------------------------

GRAF=$DEPLOY_DIR/grafana
mkdir -p "$work/dashboard"
step "grafana: dashboard structure, datasource variable, metric names" \
	"$MC" dashboard -rules "$PROM/kernelevents-rules.yaml" -promql-out "$work/dashboard/dashboard-queries.yaml" \
	"$GRAF/kernelevents-dashboard.json"
dashboard_promql() {
	"$PROMTOOL" check rules "$work/dashboard/dashboard-queries.yaml"
	cp "$GRAF/kernelevents-dashboard.test.yaml" "$work/dashboard/"
	"$PROMTOOL" test rules "$work/dashboard/kernelevents-dashboard.test.yaml"
}
step "grafana: dashboard queries parse and compute (promtool)" dashboard_promql

# ---------------------------------------------------------------------------------

if [[ ${1:-} == --self-test ]]; then
	self_test
fi

echo "deploy/check.sh took $(($(date +%s) - start)) s"
echo "deploy: $passed passed, $failed failed"
if ((failed)); then
	printf 'failed: %s\n' "${failures[@]}" >&2
	exit 1
fi
