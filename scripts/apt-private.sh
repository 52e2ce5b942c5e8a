# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# scripts/apt-private.sh: apt with the project's own sources list, lists,
# cache and (empty) dpkg status, all under a directory of the project's:
# it never reads or changes the host's /etc/apt/sources.list, so it works
# the same on a machine whose sources have only `bookworm main` (a
# debootstrap root, many minimal images) and on one with more. It only
# queries and downloads (apt-get download, apt-cache); it installs nothing.
# Source it; do not run it. Used by scripts/deps.sh (Go's bootstrap, from
# bookworm-backports) and internal/vmtest/lib.sh (Debian's kernels, 6.12 is
# in bookworm-security and bookworm-updates).
#
# Environment: KERNELEVENTS_DEBIAN_MIRROR (http://deb.debian.org/debian),
# KERNELEVENTS_DEBIAN_SECURITY_MIRROR (http://deb.debian.org/debian-security).

# apt_private DIR ARCH SUITES TOOL ARGS...: runs TOOL (apt-get or apt-cache)
# for ARCH's packages of the Debian SUITES (comma-separated, main only; a
# *-security suite comes from the security mirror), with lists in DIR. The
# lists are fetched on first use, when SUITES change, and for
# `apt_private ... apt-get update`.
apt_private() {
	local d=$1 arch=$2 suites=$3 tool=$4
	shift 4
	local mirror=${KERNELEVENTS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	local security=${KERNELEVENTS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[[ -r $keyring ]] || {
		echo "apt_private: $keyring is missing (package debian-archive-keyring): this needs Debian" >&2
		return 1
	}
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	[[ -f $d/status ]] || : >"$d/status"
	local s list=
	for s in ${suites//,/ }; do
		case $s in
		*-security) list+="deb [signed-by=$keyring] $security $s main"$'\n' ;;
		*) list+="deb [signed-by=$keyring] $mirror $s main"$'\n' ;;
		esac
	done
	local update=0
	if [[ ! -f $d/sources.list || "$(cat "$d/sources.list")"$'\n' != "$list" ]]; then
		printf '%s' "$list" >"$d/sources.list"
		rm -f "$d/lists/"*_Packages* 2>/dev/null || true
		update=1
	fi
	compgen -G "$d/lists/*_Packages*" >/dev/null || update=1
	local o=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		-o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o "Dir::State::status=$d/status")
	if [[ $tool == apt-get && ${1:-} == update ]]; then
		apt-get "${o[@]}" update -qq >&2
		return
	fi
	if ((update)); then
		apt-get "${o[@]}" update -qq >&2 || {
			echo "apt_private: apt-get update of $suites ($arch) failed" >&2
			return 1
		}
	fi
	"$tool" "${o[@]}" "$@"
}
