#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# internal/k8stest/k8stest.sh: `make k8s-test`. A single-node Kubernetes
# cluster on this machine, brought up and torn down by this script:
#
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet
#   (built by scripts/k8s-build.sh), a private containerd (its own socket,
#   root, state and runc root), runc, and a CNI bridge (ke-cni0, host-local
#   addresses, no masquerade). No kube-proxy, no DNS, no iptables: the
#   kubelet's iptables chains are off (makeIPTablesUtilChains: false) and the
#   test checks that iptables-save says the same before and after.
#
# Pods reach the API server as in-cluster clients do, at the `kubernetes`
# Service's ClusterIP: without kube-proxy that address is made a local
# address of the node (on lo) and the API server listens on it, port 443.
# The gateway (a second collector, on the node, OTLP in, file out) listens on
# the same address; the DaemonSet reaches it through a hostAliases entry for
# the shipped endpoint's name (overlay.yaml). Everything else is the shipped
# deploy/kubernetes, applied with kubectl apply -k.
#
# It deploys the DaemonSet, waits for its pod to be Ready through its own
# probes, runs workloads that create files (a Deployment, a Job, a bare pod,
# in two namespaces under two ServiceAccounts) and checks at the gateway that
# every creation is counted once, with the workload's identity.
#
# Teardown (on success, failure or interrupt): pods deleted, every process
# this script started killed by pid (containerd's shims included), mounts
# under the work directory unmounted, the kubelet's cgroups, netns and files
# outside the work directory removed, the sysctls the kubelet and the CNI
# bridge change restored, the ClusterIP address and the bridge deleted.
#
# Environment: COLLECTOR (the collector binary, the gateway), IMAGE and
# IMAGE_TAR (make image's tag and docker-archive), K8S_BIN (scripts/k8s-build.sh's
# output). KERNELEVENTS_K8S_KEEP=1 leaves the cluster up after the checks
# (for debugging: KUBECONFIG is printed; tear down with the printed command).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
: "${COLLECTOR:?} ${IMAGE:?} ${IMAGE_TAR:?} ${K8S_BIN:?} ${SPIRE_BIN:?}"

# Addresses: the service range (its first address is the API server's
# ClusterIP) and the pod range, chosen apart from the usual 10.96/12 and
# 10.244/16 so a cluster already on the machine is not confused with this one.
SVC_CIDR=10.97.0.0/24
API_IP=10.97.0.1
POD_SUBNET=10.98.0.0/24
BRIDGE=ke-cni0
NODE=ke-node
# The kubelet's cgroups at the hierarchies' root, /kubepods, as on any node:
# the receiver's cgroup watcher looks for that layout.
KUBEPODS=kubepods
# SPIRE's trust domain; entries by namespace and ServiceAccount issue
# spiffe://$TD/ns/<namespace>/sa/<serviceaccount>.
TD=kernelevents.test
COLLECTOR_ID=spiffe://$TD/ns/kernelevents/sa/otelcol-kernelevents

t0=$(date +%s)
say() { echo "k8s-test [$(($(date +%s) - t0))s]: $*"; }
W=$(mktemp -d /tmp/ke-k8s.XXXXXX)
chmod 0755 "$W"
pids=()
failed=1

# ---- the host as found ---------------------------------------------------------
sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv6.conf.all.forwarding)
declare -A sysctl_was
for s in "${sysctls[@]}"; do sysctl_was[$s]=$(sysctl -n "$s" 2>/dev/null || echo); done
# Paths the kubelet, containerd and the CNI plugins write outside their
# configured roots: removed on teardown when they did not exist before.
outside=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /var/run/netns /opt/cni /etc/containerd)
declare -A existed
for p in "${outside[@]}"; do [[ -e $p ]] && existed[$p]=1; done
declare -A kubepods_existed
for h in /sys/fs/cgroup/*/; do [[ -d $h$KUBEPODS ]] && kubepods_existed[$h]=1; done
# The DaemonSet mounts tracefs with mountPropagation: HostToContainer, which
# containerd refuses unless the node's mount is shared or slave. systemd
# makes every mount shared; a tracefs mounted by hand on a host without it
# is private: made shared for the test, as on a systemd node, and put back.
tracefs_propagation=$(findmnt -n -o PROPAGATION /sys/kernel/tracing 2>/dev/null || true)
iptables_before=$(iptables-save 2>/dev/null | grep -v '^#' || true)
netns_before=$(ls /var/run/netns 2>/dev/null || true)

kill_tree_pid() { # kill one pid we started, then wait for it
	local pid=$1
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
}

teardown() {
	local rc=$?
	set +e
	trap - EXIT INT TERM ERR
	if [[ $failed == 1 ]]; then
		dump_state
		[[ -n ${fail_detail_cmd:-} ]] && fail_detail=$(eval "$fail_detail_cmd" 2>&1)
	fi
	if [[ ${KERNELEVENTS_K8S_KEEP:-} == 1 && $failed == 0 ]]; then
		echo "k8s-test: KERNELEVENTS_K8S_KEEP=1: left up; KUBECONFIG=$W/admin.kubeconfig; tear down: kill ${pids[*]}"
		return
	fi
	say "teardown"
	# Pods first, so the kubelet stops their containers and the CNI plugin
	# releases their addresses and network namespaces.
	if [[ -n ${apiserver_up:-} ]]; then
		kc delete namespace ke-apps ke-batch kernelevents --wait=false >/dev/null 2>&1
		kc delete pods --all -A --grace-period=0 --force >/dev/null 2>&1
		for _ in $(seq 60); do
			[[ -z $(ctr_ containers ls -q 2>/dev/null) ]] && break
			sleep 0.5
		done
	fi
	# Then every process we started, newest first; containerd's shims run
	# detached (their parent is init), found by the socket they serve.
	local i shim
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		[[ ${pids[i]} == "${containerd_pid:-}" ]] && continue
		kill_tree_pid "${pids[i]}"
	done
	if [[ -n ${containerd_pid:-} ]]; then
		# Containers the kubelet did not get to stop: killed through containerd.
		local c
		for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$c" >/dev/null 2>&1; done
		sleep 0.5
		for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks rm -f "$c" >/dev/null 2>&1; done
		for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$c" >/dev/null 2>&1; done
		kill_tree_pid "$containerd_pid"
	fi
	for shim in $(pgrep -f "containerd-shim-runc-v2 .*-address $W/containerd/containerd.sock"); do
		kill_tree_pid "$shim"
	done
	# Mounts under the work directory (overlay rootfs, shm, tmpfs of secrets
	# and service-account tokens, netns), deepest first.
	local m
	for _ in 1 2 3; do
		for m in $(awk -v w="$W" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done
	done
	# Network namespaces the CNI set-up made outside the work directory.
	local ns
	for ns in $(ls /var/run/netns 2>/dev/null); do
		grep -qx "$ns" <<<"$netns_before" && continue
		umount "/var/run/netns/$ns" 2>/dev/null
		rm -f "/var/run/netns/$ns"
	done
	# The kubelet's cgroups (kubepods and below, in every hierarchy).
	local h
	for h in /sys/fs/cgroup/*/; do
		[[ -d $h$KUBEPODS && -z ${kubepods_existed[$h]:-} ]] || continue
		find "$h$KUBEPODS" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	[[ $tracefs_propagation == private ]] && mount --make-private /sys/kernel/tracing
	ip link del "$BRIDGE" 2>/dev/null
	ip addr del "$API_IP/32" dev lo 2>/dev/null
	local s
	for s in "${sysctls[@]}"; do
		[[ -n ${sysctl_was[$s]} && $(sysctl -n "$s" 2>/dev/null) != "${sysctl_was[$s]}" ]] && sysctl -qw "$s=${sysctl_was[$s]}"
	done
	local p
	for p in "${outside[@]}"; do
		[[ -n ${existed[$p]:-} ]] || rm -rf "$p"
	done
	rm -rf "$W"
	# The host as found: say what is left, and fail if anything is.
	local left=()
	for s in "${sysctls[@]}"; do
		[[ -n ${sysctl_was[$s]} && $(sysctl -n "$s" 2>/dev/null) != "${sysctl_was[$s]}" ]] && left+=("sysctl $s")
	done
	for p in "${outside[@]}" "$W"; do [[ -z ${existed[$p]:-} && -e $p ]] && left+=("$p"); done
	[[ -n $(pgrep -f "$W") ]] && left+=("processes: $(pgrep -f "$W" | xargs)")
	grep -q " $W" /proc/self/mountinfo && left+=("mounts under $W")
	ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("link $BRIDGE")
	[[ -n $tracefs_propagation && $(findmnt -n -o PROPAGATION /sys/kernel/tracing) != "$tracefs_propagation" ]] && left+=("/sys/kernel/tracing propagation")
	for h in /sys/fs/cgroup/*/; do [[ -d $h$KUBEPODS && -z ${kubepods_existed[$h]:-} ]] && left+=("cgroup $h$KUBEPODS"); done
	[[ $(iptables-save 2>/dev/null | grep -v '^#' || true) != "$iptables_before" ]] && left+=("iptables rules changed")
	if ((${#left[@]})); then
		echo "k8s-test: FAIL: teardown left: ${left[*]}" >&2
		rc=1
	fi
	if [[ -n $fail_msg ]]; then
		[[ -n $fail_detail ]] && echo "$fail_detail" >&2
		echo "k8s-test: FAIL: $fail_msg" >&2
	fi
	say "done ($([[ $rc == 0 ]] && echo ok || echo FAILED))"
	exit "$rc"
}
trap teardown EXIT
trap 'fail_msg=${fail_msg:-"line $LINENO: $BASH_COMMAND: exit $?"}' ERR
trap 'exit 130' INT TERM

# What failed is said again last, after the state dumped on teardown (a CI
# log's tail is all some readers get): fail_msg, with fail_detail before it.
# fail_detail_cmd, set around a wait, gathers what explains its failure.
fail_msg= fail_detail= fail_detail_cmd=
fail() {
	fail_msg=$*
	echo "k8s-test: FAIL: $*" >&2
	exit 1
}

dump_state() {
	[[ -n ${apiserver_up:-} ]] || { tail -n 20 "$W"/log/*.log 2>/dev/null; return; }
	echo "--- kubectl get pods -A -o wide" >&2
	kc get pods -A -o wide >&2 2>&1
	local p
	for p in $(kc get pods -A --no-headers -o custom-columns=NS:.metadata.namespace,N:.metadata.name 2>/dev/null | awk '$2 !~ /^$/ { print $1 "/" $2 }'); do
		echo "--- $p: events and log (last 20 lines)" >&2
		kc -n "${p%/*}" get events --field-selector "involvedObject.name=${p#*/}" --no-headers 2>&1 | tail -n 8 >&2
	done
	# The kubelet serves logs on loopback only: read its files.
	local f
	for f in $(find "$W/pod-logs" -name '*.log' 2>/dev/null); do
		echo "--- ${f#"$W/pod-logs/"} (last 20 lines)" >&2
		tail -n 20 "$f" >&2
	done
	for p in kubelet containerd gateway spire-agent spire-server; do
		echo "--- $p log (last 15 lines)" >&2
		tail -n 15 "$W/log/$p.log" >&2 2>/dev/null
	done
}

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ctr_() { ctr --address "$W/containerd/containerd.sock" -n k8s.io "$@"; }
kc() { "$K8S_BIN/kubectl" --kubeconfig "$W/admin.kubeconfig" "$@"; }
start() { # start NAME CMD...: in the background, log to $W/log/NAME.log
	local name=$1
	shift
	"$@" >"$W/log/$name.log" 2>&1 &
	pids+=($!)
	eval "${name//-/_}_pid=$!"
}
wait_for() { # wait_for SECONDS WHAT CMD...
	local secs=$1 what=$2
	shift 2
	local end=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		(($(date +%s) < end)) || fail "$what: not within ${secs}s"
		sleep 0.5
	done
}
mkdir -p "$W/log" "$W/pki"

# ---- certificates (as hack/local-up-cluster.sh writes them) --------------------
say "certificates, containerd, etcd"
pki=$W/pki
openssl_() { openssl "$@" 2>/dev/null; }
openssl_ req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kernelevents-k8stest-ca \
	-keyout "$pki/ca.key" -out "$pki/ca.crt"
cert() { # cert NAME SUBJECT [SANS]
	openssl_ req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
	if [[ -n ${3:-} ]]; then
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$pki/$1.ext"
	else
		printf 'extendedKeyUsage=clientAuth\n' >"$pki/$1.ext"
	fi
	openssl_ x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 1 -extfile "$pki/$1.ext" -out "$pki/$1.crt"
}
cert apiserver /CN=kube-apiserver "IP:$API_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost"
cert admin "/O=system:masters/CN=kernelevents-k8stest-admin"
cert kubelet "/O=system:nodes/CN=system:node:$NODE"
openssl_ genrsa -out "$pki/sa.key" 2048
openssl_ rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
kubeconfig() { # kubeconfig NAME CERT
	cat >"$W/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {certificate-authority: $pki/ca.crt, server: "https://$API_IP:443"}
users:
- name: $1
  user: {client-certificate: $pki/$2.crt, client-key: $pki/$2.key}
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
EOF
}
kubeconfig admin admin
kubeconfig kubelet kubelet

# ---- containerd, private ---------------------------------------------------------
ip addr add "$API_IP/32" dev lo
mkdir -p "$W/containerd" "$W/cni/net.d" "$W/cni/ipam"
cat >"$W/containerd/config.toml" <<EOF
version = 2
root = "$W/containerd/root"
state = "$W/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$W/containerd/containerd.sock"
[ttrpc]
  address = "$W/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/kernelevents/pause:test"
  # The sandbox's bounding set lacks CAP_SYS_RESOURCE on some hosts: runc
  # cannot lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$W/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/cni/net.d"
EOF
cat >"$W/cni/net.d/10-kernelevents.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kernelevents-k8stest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$W/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
start containerd containerd --config "$W/containerd/config.toml"

# ---- etcd ------------------------------------------------------------------------
etcd_port=$(freeport)
etcd_peer=$(freeport)
start etcd etcd --name ke --data-dir "$W/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-cluster "ke=http://127.0.0.1:$etcd_peer" --log-level warn

# ---- images: pause (compiled here), busybox, the collector -----------------------
# A docker-archive of one layer, for ctr images import.
docker_archive() { # docker_archive ROOTFS_DIR REF CMD_JSON OUT
	local d rootfs=$1 ref=$2 cmd=$3 out=$4
	d=$(mktemp -d "$W/img.XXXXXX")
	tar -C "$rootfs" -cf "$d/layer.tar" .
	local diff cfg
	diff=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
	printf '{"architecture":"%s","os":"linux","config":{"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$(go env GOARCH)" "$cmd" "$diff" >"$d/config.json"
	cfg=$(sha256sum "$d/config.json" | cut -d' ' -f1)
	mv "$d/config.json" "$d/$cfg.json"
	printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg" "$ref" >"$d/manifest.json"
	tar -C "$d" -cf "$out" manifest.json "$cfg.json" layer.tar
	rm -rf "$d"
}
mkdir -p "$W/rootfs/pause" "$W/rootfs/busybox/bin" "$W/rootfs/busybox/tmp" "$W/rootfs/busybox/etc"
gcc -static -O2 -o "$W/rootfs/pause/pause" "$K8S_BIN/pause.c" -DVERSION=kernelevents-k8stest
docker_archive "$W/rootfs/pause" localhost/kernelevents/pause:test '["/pause"]' "$W/pause.tar"
cp /bin/busybox "$W/rootfs/busybox/bin/busybox"
for a in sh touch mkdir sleep cat ls echo seq true; do ln -s busybox "$W/rootfs/busybox/bin/$a"; done
chmod 1777 "$W/rootfs/busybox/tmp"
docker_archive "$W/rootfs/busybox" localhost/kernelevents/busybox:test '["/bin/sh"]' "$W/busybox.tar"
wait_for 30 "containerd" ctr_ version
for t in "$W/pause.tar" "$W/busybox.tar" "$IMAGE_TAR"; do
	ctr_ images import "$t" >/dev/null || fail "ctr images import $t"
done
ctr_ images ls -q | grep -qx "$IMAGE" || fail "$IMAGE_TAR does not hold $IMAGE (ctr images ls: $(ctr_ images ls -q | xargs))"

# ---- control plane -----------------------------------------------------------
say "control plane"
wait_for 30 "etcd" curl -fsS "http://127.0.0.1:$etcd_port/health"
start apiserver "$K8S_BIN/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address "$API_IP" --advertise-address "$API_IP" --secure-port 443 \
	--service-cluster-ip-range "$SVC_CIDR" \
	--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
	--client-ca-file "$pki/ca.crt" \
	--kubelet-client-certificate "$pki/admin.crt" --kubelet-client-key "$pki/admin.key" \
	--kubelet-preferred-address-types InternalIP,Hostname \
	--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
	--service-account-issuer https://kubernetes.default.svc \
	--authorization-mode Node,RBAC --allow-privileged=true \
	--cert-dir "$W/apiserver" --profiling=false --endpoint-reconciler-type lease
wait_for 120 "kube-apiserver /readyz" kc get --raw /readyz
apiserver_up=1
start controller-manager "$K8S_BIN/kube-controller-manager" \
	--kubeconfig "$W/admin.kubeconfig" --authentication-kubeconfig "$W/admin.kubeconfig" \
	--authorization-kubeconfig "$W/admin.kubeconfig" \
	--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
	--use-service-account-credentials --leader-elect=false \
	--bind-address 127.0.0.1 --secure-port "$(freeport)" --cert-dir "$W/controller-manager"
start scheduler "$K8S_BIN/kube-scheduler" \
	--kubeconfig "$W/admin.kubeconfig" --authentication-kubeconfig "$W/admin.kubeconfig" \
	--authorization-kubeconfig "$W/admin.kubeconfig" \
	--leader-elect=false --bind-address 127.0.0.1 --secure-port "$(freeport)" --cert-dir "$W/scheduler"

[[ -n $tracefs_propagation ]] || fail "tracefs is not mounted at /sys/kernel/tracing (make tracefs)"
[[ $tracefs_propagation == private ]] && mount --make-shared /sys/kernel/tracing

# ---- kubelet -------------------------------------------------------------------
say "kubelet"
kubelet_port=$(freeport)
: >"$W/resolv.conf"
cat >"$W/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Hybrid cgroup hosts count as v1.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /
# Without CAP_SYS_RESOURCE in the bounding set, no lowering oom_score_adj.
oomScoreAdj: 0
containerRuntimeEndpoint: unix://$W/containerd/containerd.sock
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
makeIPTablesUtilChains: false
podLogsDir: $W/pod-logs
resolvConf: $W/resolv.conf
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
EOF
start kubelet "$K8S_BIN/kubelet" --config "$W/kubelet.yaml" --kubeconfig "$W/kubelet.kubeconfig" \
	--root-dir "$W/kubelet" --cert-dir "$W/kubelet/pki" --hostname-override "$NODE" -v 1
node_ready() { [[ $(kc get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]; }
wait_for 120 "node $NODE Ready" node_ready
wait_for 60 "the default ServiceAccount" kc -n default get serviceaccount default
say "node Ready"

# ---- SPIRE on the node: server, agent with the k8s workload attestor ----------
# The server attests the agent by a join token; the agent attests workloads
# with its Kubernetes workload attestor, which reads the kubelet's pod list
# (its secure port, with a client certificate the kubelet's CA signed) and
# the process's cgroups. Entries by namespace and ServiceAccount. The
# collector asks the agent's Delegated Identity API on the admin socket,
# whose directory the overlay mounts into the DaemonSet's pod, as the
# shipped daemonset.yaml describes; the collector is an authorized delegate
# by its own entry (ns kernelevents, sa otelcol-kernelevents).
say "SPIRE server and agent"
sp=$W/spire
mkdir -p "$sp/server" "$sp/agent" "$sp/public" "$sp/admin"
spire_port=$(freeport)
cat >"$sp/server.conf" <<EOF
server {
    bind_address = "127.0.0.1"
    bind_port = "$spire_port"
    socket_path = "$sp/server/api.sock"
    trust_domain = "$TD"
    data_dir = "$sp/server"
    log_level = "INFO"
    default_x509_svid_ttl = "1h"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "$sp/server/datastore.sqlite3"
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
}
EOF
start spire-server "$SPIRE_BIN/spire-server" run -config "$sp/server.conf"
sps() { "$SPIRE_BIN/spire-server" "$@" -socketPath "$sp/server/api.sock"; }
wait_for 60 "spire-server healthy" sps healthcheck
token=$(sps token generate -ttl 600 | awk '/^Token:/ { print $2 }')
[[ -n $token ]] || fail "spire-server token generate: no token"
agent_id=spiffe://$TD/spire/agent/join_token/$token
cat >"$sp/agent.conf" <<EOF
agent {
    data_dir = "$sp/agent"
    log_level = "DEBUG"
    server_address = "127.0.0.1"
    server_port = "$spire_port"
    socket_path = "$sp/public/api.sock"
    admin_socket_path = "$sp/admin/admin.sock"
    authorized_delegates = ["$COLLECTOR_ID"]
    insecure_bootstrap = true
    trust_domain = "$TD"
}
plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "memory" {
        plugin_data {}
    }
    WorkloadAttestor "k8s" {
        plugin_data {
            kubelet_secure_port = $kubelet_port
            # The kubelet's serving certificate is self-signed.
            skip_kubelet_verification = true
            certificate_path = "$pki/admin.crt"
            private_key_path = "$pki/admin.key"
            poll_retry_interval = "200ms"
        }
    }
}
EOF
start spire-agent "$SPIRE_BIN/spire-agent" run -config "$sp/agent.conf" -joinToken "$token"
wait_for 60 "spire-agent healthy" "$SPIRE_BIN/spire-agent" healthcheck -socketPath "$sp/public/api.sock"
for e in kernelevents/otelcol-kernelevents ke-apps/ke-writer ke-batch/ke-batcher ke-batch/default; do
	sps entry create -parentID "$agent_id" -spiffeID "spiffe://$TD/ns/${e%/*}/sa/${e#*/}" \
		-selector "k8s:ns:${e%/*}" -selector "k8s:sa:${e#*/}" >>"$W/log/spire-entries.log" || fail "spire-server entry create $e"
done
say "SPIRE agent healthy, entries made"

# ---- the gateway: a second collector on the node ------------------------------
mkdir -p "$W/gateway"
cat >"$W/gateway/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: $API_IP:4317
exporters:
  file:
    path: $W/gateway/metrics.json
    flush_interval: 1s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [file]
EOF
start gateway "$COLLECTOR" --config "$W/gateway/config.yaml"

# ---- the DaemonSet as shipped ------------------------------------------------------
say "kubectl apply -k (deploy/kubernetes + overlay)"
mkdir -p "$W/overlay"
cp internal/k8stest/overlay.yaml "$W/overlay/kustomization.yaml"
ln -s "$repo/deploy/kubernetes" "$W/overlay/base"
sed -i "s|@IMAGE_NAME@|${IMAGE%:*}|; s|@IMAGE_TAG@|${IMAGE##*:}|; s|@GATEWAY_IP@|$API_IP|; s|@SPIRE_ADMIN_DIR@|$sp/admin|" "$W/overlay/kustomization.yaml"
# The shipped configuration with its identity::spire block uncommented, as
# configmap.yaml says to: exactly those six lines change.
python3 - "$repo/deploy/kubernetes/configmap.yaml" "$W/overlay/config.yaml" <<'PY'
import re, sys, yaml
conf = yaml.safe_load(open(sys.argv[1]))["data"]["config.yaml"]
out, n = re.subn(r"(?m)^(\s*)# (spire:|  (admin_socket|timeout|cache_ttl|retry_interval|required):)", r"\1\2", conf)
if n != 6:
    sys.exit(f"configmap.yaml: uncommented {n} lines of identity::spire, want 6")
open(sys.argv[2], "w").write(out)
PY
kc apply -k "$W/overlay" >"$W/log/apply.log" 2>&1 || { cat "$W/log/apply.log" >&2; fail "kubectl apply -k"; }
agent_ready() {
	[[ $(kc -n kernelevents get pods -l app.kubernetes.io/name=otelcol-kernelevents \
		-o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}') == True ]]
}
fail_detail_cmd='kc -n kernelevents get events --no-headers | tail -n 8 | cut -c1-300; tail -q -n 6 "$W"/pod-logs/kernelevents_*/*/*.log | cut -c1-400'
wait_for 120 "the DaemonSet's pod Ready (its readinessProbe on /status)" agent_ready
agent=$(kc -n kernelevents get pods -l app.kubernetes.io/name=otelcol-kernelevents -o jsonpath='{.items[0].metadata.name}')
say "agent $agent Ready"
# identity::spire: the agent takes the collector as a delegate once it has
# synced the collector's entry and attested the collector through the
# kubelet (the receiver checks every retry_interval, 5 s): seconds here,
# bounded at 120 s for a loaded machine.
spire_delegate() { grep -qs "takes the collector as a delegate" "$W"/pod-logs/kernelevents_*/*/*.log; }
fail_detail_cmd='grep -hi spire "$W"/pod-logs/kernelevents_*/*/*.log | tail -n 6 | cut -c1-400; grep -v "level=debug" "$W/log/spire-agent.log" | tail -n 8 | cut -c1-400'
wait_for 120 "the SPIRE agent taking the collector as a delegate (its log)" spire_delegate
fail_detail_cmd=
say "SPIRE agent takes the collector as a delegate"
# What the pod runs under: the shipped securityContext and RuntimeDefault,
# as containerd applied them (the container's own /proc/1/status is the
# node's init under hostPID: read the collector's, by its container's pid).
agent_cid=$(kc -n kernelevents get pod "$agent" -o jsonpath='{.status.containerStatuses[0].containerID}')
agent_cid=${agent_cid#containerd://}
agent_pid=$(ctr_ tasks ls | awk -v c="$agent_cid" '$1 == c { print $2 }')
[[ -n $agent_pid ]] || fail "no task for the agent's container $agent_cid"
seccomp_mode=$(awk '/^Seccomp:/ { print $2 }' "/proc/$agent_pid/status")
[[ $seccomp_mode == 2 ]] || fail "the agent runs with Seccomp: $seccomp_mode in /proc/$agent_pid/status, want 2 (filter: RuntimeDefault)"
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$agent_pid/status")
# BPF (39), PERFMON (38), SYS_PTRACE (19), DAC_READ_SEARCH (2): 0xc000080004.
[[ $capeff == 000000c000080004 ]] || fail "the agent's CapEff is $capeff, want 000000c000080004 (BPF, PERFMON, SYS_PTRACE, DAC_READ_SEARCH)"

# ---- workloads ---------------------------------------------------------------------
say "workloads"
kc apply -f internal/k8stest/workloads.yaml >"$W/log/workloads.log" 2>&1 || { cat "$W/log/workloads.log" >&2; fail "kubectl apply workloads"; }
wait_for 120 "job ke-batch/ke-job complete" kc -n ke-batch wait --for=condition=complete job/ke-job --timeout=1s
pod_done() { [[ $(kc -n "$1" get pod "$2" -o jsonpath='{.status.phase}') == Succeeded ]]; }
wait_for 120 "pod ke-batch/ke-bare done" pod_done ke-batch ke-bare
# Available once its readiness probe finds the files made.
wait_for 120 "deployment ke-apps/ke-deploy available" kc -n ke-apps wait --for=condition=available deployment/ke-deploy --timeout=1s

# ---- at the gateway --------------------------------------------------------------
say "checking at the gateway"
check() {
	python3 internal/k8stest/check.py "$W/gateway/metrics.json" "$W/expect.json"
}
# What each workload created, with the identity the API server holds for it.
python3 - "$W/expect.json" <<EOF
import json, subprocess, sys
def kc(*a):
    return subprocess.run(["$K8S_BIN/kubectl", "--kubeconfig", "$W/admin.kubeconfig", *a], check=True, capture_output=True, text=True).stdout
want = []
for ns, sel, prefix, owner_key, owner in [
    ("ke-apps", "app=ke-deploy", "/tmp/ke-deploy", "k8s.deployment.name", "ke-deploy"),
    ("ke-batch", "job-name=ke-job", "/tmp/ke-job", "k8s.job.name", "ke-job"),
    ("ke-batch", "ke-test=bare", "/tmp/ke-bare", None, None),
]:
    pods = json.loads(kc("-n", ns, "get", "pods", "-l", sel, "-o", "json"))["items"]
    if len(pods) != 1:
        sys.exit(f"{ns} {sel}: {len(pods)} pods, want 1")
    p = pods[0]
    cs = p["status"]["containerStatuses"][0]
    want.append({
        "prefix": prefix, "files": 20,
        "resource": {
            "k8s.namespace.name": ns, "k8s.pod.name": p["metadata"]["name"],
            "k8s.pod.uid": p["metadata"]["uid"], "k8s.container.name": cs["name"],
            "container.id": cs["containerID"].split("://", 1)[1],
            # The pod's ServiceAccount, from the receiver's pod inventory
            # (identity::kubernetes).
            "k8s.serviceaccount.name": p["spec"]["serviceAccountName"],
            # The SPIFFE ID SPIRE issues the pod (its entry by namespace and
            # ServiceAccount), through the agent's Delegated Identity API.
            "spiffe.id": f'spiffe://$TD/ns/{ns}/sa/{p["spec"]["serviceAccountName"]}',
            # Asked by the pod's selectors, never by pid, the Deployment's
            # shell alive or not (internal/identity: lookupSPIFFE).
            "kernelevents.spiffe.status": "issued_by_pod",
            **({owner_key: owner} if owner_key else {}),
        },
    })
json.dump(want, open(sys.argv[1], "w"), indent=1)
EOF
# The agent exports every collection_interval (10 s) and batches for up to 10 s.
end=$(($(date +%s) + 90))
until out=$(check 2>&1); do
	if (($(date +%s) >= end)); then
		echo "$out" >&2
		fail_detail=$(tail -n 40 <<<"$out")
		fail "the gateway did not get every creation with its identity within 90s"
	fi
	sleep 2
done
echo "$out"
failed=0
say "PASS"
