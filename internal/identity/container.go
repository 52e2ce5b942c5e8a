// SPDX-License-Identifier: Apache-2.0

package identity

import (
	"regexp"
	"strings"
)

// Container runtimes name the cgroup of a container after its 64-hex id:
//
//	docker (cgroupfs)       /docker/<id>
//	docker (systemd)        /system.slice/docker-<id>.scope
//	containerd (CRI)        /kubepods/.../cri-containerd-<id>.scope, or /kubepods/.../<id>
//	cri-o                   /kubepods.slice/.../crio-<id>.scope (and crio-conmon-<id>.scope)
//	podman                  /machine.slice/libpod-<id>.scope, /libpod_parent/libpod-<id>
//
// The last path component that carries such an id wins.
var containerIDRe = regexp.MustCompile(`(?:^|[-/])([0-9a-f]{64})(?:\.scope)?$`)

// Kubernetes pod cgroups carry the pod uid: "pod<uid>" with dashes
// (cgroupfs driver) or underscores (systemd driver).
var podUIDRe = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$`)

// ParseCgroupPath returns the container id and Kubernetes pod uid a cgroup
// path names, each empty when it names none.
func ParseCgroupPath(path string) (containerID, podUID string) {
	for _, comp := range strings.Split(path, "/") {
		if strings.HasPrefix(comp, "crio-conmon-") {
			continue // the monitor process of a cri-o container, not the container
		}
		if m := containerIDRe.FindStringSubmatch("/" + comp); m != nil {
			containerID = m[1]
		}
		if m := podUIDRe.FindStringSubmatch(comp); m != nil {
			podUID = strings.ReplaceAll(m[1], "_", "-")
		}
	}
	return containerID, podUID
}
