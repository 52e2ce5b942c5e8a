#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# packaging/licenses.sh BINARY OUT: the licences of every Go module linked
# into BINARY (from `go version -m`), taken from the module cache the build
# used, into OUT, which the image and the .deb ship beside LICENSE and NOTICE.
# A text seen before is named instead of repeated; NOTICE files are kept
# (Apache-2.0 section 4(d)). Fails when a module has no licence file.
set -euo pipefail
bin=${1:?usage: packaging/licenses.sh BINARY OUT}
out=${2:?usage: packaging/licenses.sh BINARY OUT}
modcache=$(go env GOMODCACHE)
declare -A seen=()
missing=()
n=0
{
	echo "Third-party licences of otelcol-kernelevents"
	echo
	echo "The collector links the Go modules below; each section names a module, its"
	echo "version and its licence file(s), as found in the module's source."
	# dep lines: "dep PATH VERSION SUM"; a replaced module is followed by "=> PATH VERSION SUM".
	while read -r kind path version _; do
		# A module replaced by another module would need that one's licence:
		# none is today (only this repository, by a local path).
		if [[ $kind == "=>" && $path != .* && $path != /* ]]; then
			echo "licenses: a dependency is replaced by $path $version: teach packaging/licenses.sh to follow it" >&2
			exit 1
		fi
		[[ $kind == dep ]] || continue
		[[ $version == v0.0.0 && $path == github.com/kernelevents/kernelevents ]] && continue # this repository
		# The module cache escapes capitals as !lower.
		dir=$modcache/$(sed 's/[A-Z]/!\L&/g' <<<"$path")@$version
		files=()
		for f in "$dir"/*; do
			case ${f##*/} in
			LICENSE* | LICENCE* | License* | license* | COPYING* | NOTICE* | PATENTS*) [[ -f $f ]] && files+=("$f") ;;
			esac
		done
		if ((${#files[@]} == 0)); then
			missing+=("$path@$version")
			continue
		fi
		n=$((n + 1))
		for f in "${files[@]}"; do
			sum=$(sha256sum "$f" | cut -c1-64)
			echo
			echo "================================================================================"
			echo "$path $version: ${f##*/}"
			echo "================================================================================"
			if [[ -n ${seen[$sum]:-} ]]; then
				echo "(the same text as ${seen[$sum]})"
			else
				seen[$sum]="$path ${f##*/}"
				cat "$f"
			fi
		done
	done < <(go version -m "$bin")
} >"$out.tmp"
if ((${#missing[@]})); then
	echo "licenses: no licence file in the module cache for: ${missing[*]}" >&2
	exit 1
fi
((n > 0)) || { echo "licenses: no modules found in $bin" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "licenses: $n modules, $(($(stat -c %s "$out") / 1024)) KiB in $out"
