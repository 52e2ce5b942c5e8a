#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The evidence memory soak (make soak-memory; not in make test): the built
# collector with the evidence chain and signed checkpoints on
# (bench/soak-evidence.yaml) under a steady creation load of SOAK_RATE files
# a second (a bash loop, no fork per file: it leaves the shared cores to
# the collector) for SOAK_TIME. Every SOAK_EVERY it writes a row of the
# collector's RSS (/proc), Go heap in use and runtime total
# (otelcol_process_runtime_*), CPU seconds, received, lost and evidence
# records written to SOAK_OUT (TSV). At the end it prints the first and
# last rows after the warm-up (SOAK_WARMUP) and the least-squares slope of
# RSS and heap in MiB per hour over the rows after the warm-up.
# Run as root from the repository root.
set -euo pipefail

COLLECTOR=${KERNELEVENTS_COLLECTOR:-$PWD/_build/collector/otelcol-kernelevents}
SOAK_TIME=${SOAK_TIME:-3600}       # seconds
SOAK_RATE=${SOAK_RATE:-300}        # creations a second
SOAK_EVERY=${SOAK_EVERY:-60}       # seconds between rows
SOAK_WARMUP=${SOAK_WARMUP:-300}    # seconds left out of the slope
SOAK_OUT=${SOAK_OUT:-$PWD/_build/soak/samples.tsv}
PROM_PORT=${SOAK_PROM_PORT:-19464}
OWN_PORT=${SOAK_OWN_PORT:-18888}

[ -x "$COLLECTOR" ] || { echo "soak: no collector at $COLLECTOR (make build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "soak: run as root (the collector loads BPF programs)" >&2; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing

work=$(mktemp -d /tmp/kesoak.XXXXXX)
mkdir -p "$(dirname "$SOAK_OUT")" "$work/load"
collector_pid= load_pid=
cleanup() {
	if [ -n "$load_pid" ]; then
		kill "$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
	fi
	if [ -n "$collector_pid" ]; then
		kill -TERM "$collector_pid" 2>/dev/null || true
		wait "$collector_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

openssl genpkey -algorithm ed25519 -out "$work/evidence.key" 2>/dev/null
export KE_SOAK_DIR=$work/load KE_SOAK_KEY=$work/evidence.key KE_SOAK_STATE=$work/evidence.state \
	KE_SOAK_EVIDENCE=$work/evidence.jsonl KE_SOAK_PROM_PORT=$PROM_PORT KE_SOAK_OWN_PORT=$OWN_PORT
"$COLLECTOR" --config "$PWD/bench/soak-evidence.yaml" >"$work/collector.log" 2>&1 &
collector_pid=$!

prom() { curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null || true; }
# The sum of a metric's samples (every label set) in a scrape.
metric() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF; n++ } END { if (n) printf "%.0f", s; else printf "NA" }'; }
for _ in $(seq 100); do
	prom "$PROM_PORT" | grep -q '^kernel_events_received_total' && break
	kill -0 "$collector_pid" 2>/dev/null || { cat "$work/collector.log" >&2; exit 1; }
	sleep 0.2
	: >"$work/load/ready.$RANDOM"
done

# The load: batches of SOAK_RATE/10 creations ten times a second, in a
# directory replaced every second (one rm a second, not one per file).
(
	batch=$((SOAK_RATE / 10)) n=0
	while :; do
		d=$work/load/d$((n % 4)); mkdir -p "$d"
		for t in 0 1 2 3 4 5 6 7 8 9; do
			for ((i = 0; i < batch; i++)); do : >"$d/f$t.$i"; done
			sleep 0.1
		done
		n=$((n + 1)); rm -rf "$work/load/d$((n % 4))"
	done
) &
load_pid=$!

printf 'elapsed_s\trss_kib\theap_alloc_bytes\truntime_total_bytes\tcpu_s\treceived\tlost\tevidence_files_bytes\n' >"$SOAK_OUT"
hz=$(getconf CLK_TCK)
start=$(date +%s)
while :; do
	now=$(date +%s); el=$((now - start))
	kill -0 "$collector_pid" 2>/dev/null || { echo "soak: the collector exited" >&2; tail -20 "$work/collector.log" >&2; exit 1; }
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$collector_pid/status")
	cpu=$(awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$collector_pid/stat")
	own=$(prom "$OWN_PORT") ke=$(prom "$PROM_PORT")
	heap=$(metric otelcol_process_runtime_heap_alloc_bytes <<<"$own")
	total=$(metric otelcol_process_runtime_total_sys_memory_bytes <<<"$own")
	recv=$(metric kernel_events_received_total <<<"$ke")
	lost=$(metric kernel_events_lost_total <<<"$ke")
	bytes=$(cat "$work"/evidence*.jsonl 2>/dev/null | wc -c)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$el" "$rss" "$heap" "$total" "$cpu" "$recv" "$lost" "$bytes" | tee -a "$SOAK_OUT"
	[ "$el" -ge "$SOAK_TIME" ] && break
	sleep $((SOAK_EVERY - ($(date +%s) - now) > 0 ? SOAK_EVERY - ($(date +%s) - now) : 1))
done

awk -F'\t' -v w="$SOAK_WARMUP" -v rate="$SOAK_RATE" '
NR == 1 { next }
$1 >= w && $2 != "" {
	n++; x = $1 / 3600; sx += x; sxx += x * x
	r = $2 / 1024; sr += r; sxr += x * r
	if ($3 != "NA") { hn++; h = $3 / 1048576; hx += x; hxx += x * x; sh += h; sxh += x * h }
	if (n == 1) first = $0; last = $0
	if (r > maxr) maxr = r; if (minr == "" || r < minr) minr = r
}
END {
	if (n < 2) { print "soak: fewer than two rows after the warm-up"; exit 1 }
	d = n * sxx - sx * sx; slope = (n * sxr - sx * sr) / d
	printf "soak: %d rows after %ds warm-up at %d creations/s\n", n, w, rate
	printf "first: %s\nlast:  %s\n", first, last
	printf "RSS: min %.1f MiB, max %.1f MiB, slope %+.2f MiB/hour\n", minr, maxr, slope
	if (hn >= 2) { hd = hn * hxx - hx * hx; printf "Go heap: slope %+.2f MiB/hour\n", (hn * sxh - hx * sh) / hd }
}' "$SOAK_OUT"
