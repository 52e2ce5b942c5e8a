// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"strings"
)

// ParseCgroupPath returns the container id and Kubernetes pod uid a cgroup
// path names, each empty when it names none.
//
// Only the layouts the runtimes themselves create count, anchored at the
// root of the hierarchy, where only root (the runtime, systemd, the kubelet)
// can make cgroups:
//
//	docker (cgroupfs)        /docker/<id>
//	docker (systemd)         /system.slice/docker-<id>.scope
//	podman (cgroupfs)        /libpod_parent/libpod-<id>
//	podman (systemd)         /machine.slice/libpod-<id>.scope
//	kubelet (cgroupfs)       /kubepods[/besteffort|/burstable]/pod<uid>/<c>
//	kubelet (systemd)        /kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_>.slice/<c>
//
// where <c> is the container's cgroup as the CRI runtime names it: <id>
// (containerd, cri-dockerd with cgroupfs), crio-<id>, cri-containerd-<id>.scope,
// crio-<id>.scope or docker-<id>.scope. Cgroups below these (a container's
// own nested cgroups) keep the container's id. An id anywhere else, for
// example inside a user's delegated subtree
// (/user.slice/user-1000.slice/user@1000.service/docker-<id>.scope) or below
// a container's cgroup (/docker/<id>/docker-<other>.scope), is not a
// container id: whoever owns that subtree could name it. Rootless podman's
// containers live in such a subtree and get no container id. cri-o's monitor
// (crio-conmon-<id>) is not the container.
func ParseCgroupPath(path string) (containerID, podUID string) {
	c := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(c) < 2 {
		return "", ""
	}
	switch c[0] {
	case "docker":
		return hexID(c[1]), ""
	case "system.slice":
		return scopeID(c[1], "docker-"), ""
	case "libpod_parent":
		if rest, ok := strings.CutPrefix(c[1], "libpod-"); ok {
			return hexID(rest), ""
		}
	case "machine.slice":
		return scopeID(c[1], "libpod-"), ""
	case "kubepods":
		i := 1
		if c[i] == "besteffort" || c[i] == "burstable" {
			i++
		}
		if i >= len(c) {
			return "", ""
		}
		uid, ok := strings.CutPrefix(c[i], "pod")
		if !ok || !isPodUID(uid, '-') {
			return "", ""
		}
		if i+1 < len(c) {
			containerID = criContainer(c[i+1])
		}
		return containerID, uid
	case "kubepods.slice":
		i, prefix := 1, "kubepods-pod"
		for _, qos := range []string{"besteffort", "burstable"} {
			if c[1] == "kubepods-"+qos+".slice" {
				i, prefix = 2, "kubepods-"+qos+"-pod"
			}
		}
		if i >= len(c) {
			return "", ""
		}
		// Without the prefix, uid keeps "kubepods-..." and is no pod UID.
		uid, _ := strings.CutPrefix(c[i], prefix)
		uid, ok := strings.CutSuffix(uid, ".slice")
		if !ok || !isPodUID(uid, '_') {
			return "", ""
		}
		if i+1 < len(c) {
			containerID = criContainer(c[i+1])
		}
		return containerID, strings.ReplaceAll(uid, "_", "-")
	}
	return "", ""
}

// criContainer is the id in a pod's container cgroup as the CRI runtimes
// name it.
func criContainer(comp string) string {
	if id := hexID(comp); id != "" {
		return id
	}
	if rest, ok := strings.CutPrefix(comp, "crio-"); ok && !strings.HasPrefix(rest, "conmon-") {
		return hexID(strings.TrimSuffix(rest, ".scope"))
	}
	for _, p := range []string{"cri-containerd-", "docker-"} {
		if id := scopeID(comp, p); id != "" {
			return id
		}
	}
	return ""
}

// scopeID returns <id> from "<prefix><id>.scope".
func scopeID(comp, prefix string) string {
	rest, ok := strings.CutPrefix(comp, prefix)
	if !ok {
		return ""
	}
	rest, ok = strings.CutSuffix(rest, ".scope")
	if !ok {
		return ""
	}
	return hexID(rest)
}

// hexID returns s when it is 64 lower-case hex digits.
func hexID(s string) string {
	if len(s) != 64 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return ""
		}
	}
	return s
}

func isHex(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' }

// isPodUID checks the 8-4-4-4-12 hex form with sep between the groups.
func isPodUID(s string, sep byte) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != sep {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}
