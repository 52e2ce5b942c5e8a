#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/spdx.sh [FILE...]: add the Apache-2.0 SPDX header to Go files, shell
# scripts and Makefiles that lack one (default: every such file git knows,
# tracked or not). bpf/ is left alone: its files carry other licences (NOTICE).
# internal/repotest's TestSPDXHeaders is the check; this is the fix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
header='SPDX-License-Identifier: Apache-2.0'
if (($#)); then files=("$@"); else mapfile -t files < <(git ls-files --cached --others --exclude-standard); fi
for f in "${files[@]}"; do
	[[ -f $f && $f != bpf/* ]] || continue
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier' && continue
	case $f in
	*.go)
		# Generated Go is rewritten by its generator; the check exempts it.
		grep -qE '^// Code generated .* DO NOT EDIT\.$' "$f" && continue
		printf '// %s\n\n' "$header" | cat - "$f" >"$f.spdx" && mv "$f.spdx" "$f"
		;;
	*)
		if head -n 1 "$f" | grep -q '^#!'; then
			sed -i "1a # $header" "$f"
		elif [[ $f == *.sh || ${f##*/} == Makefile ]]; then
			sed -i "1i # $header" "$f"
		else
			continue
		fi
		;;
	esac
	echo "spdx: $f"
done
