# SPDX-License-Identifier: Apache-2.0
"""check.py METRICS_JSON EXPECT_JSON: make k8s-test's check at the gateway.

METRICS_JSON is what the gateway's file exporter wrote (one OTLP
ExportMetricsServiceRequest as JSON per line); EXPECT_JSON, written by
k8stest.sh from the API server, lists each workload: the directory it
created its files in, how many, and the identity its resource must carry
(namespace, pod, container, owner, the pod's ServiceAccount from the
receiver's pod inventory, and the SPIFFE ID SPIRE issues the pod).

For each workload, the kernel.file.creations series of its pod's shell (the
resource whose k8s.pod.uid is the pod's, the task named sh) must carry exactly that identity on
their resource, and their latest cumulative values must add up to the number
of files it created: one that lost its identity, or was labelled as another
pod, is missing from that sum (none lost, none unlabelled, none counted
twice). Series are told apart by the pod, not by the directory: paths are the
node's (README "Paths are the node's"), so a container's /tmp/ke-deploy is
under its overlay's upper directory, cut to file_directory_depth like any
other. Exit 0 when all hold; otherwise print what differs and exit 1.
"""
import json
import sys


def value(v):
    for k in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if k in v:
            return str(v[k])
    return json.dumps(v)


def attrs(lst):
    return {a["key"]: value(a.get("value", {})) for a in lst or []}


def series(path):
    """Latest cumulative value of every kernel.file.creations series."""
    latest = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            req = json.loads(line)
            for rm in req.get("resourceMetrics", []):
                res = attrs(rm.get("resource", {}).get("attributes"))
                for sm in rm.get("scopeMetrics", []):
                    for m in sm.get("metrics", []):
                        if m.get("name") != "kernel.file.creations":
                            continue
                        for dp in m.get("sum", {}).get("dataPoints", []):
                            pa = attrs(dp.get("attributes"))
                            key = (tuple(sorted(res.items())), tuple(sorted(pa.items())))
                            ts = int(dp.get("timeUnixNano", 0))
                            n = int(dp.get("asInt", 0))
                            if key not in latest or ts >= latest[key][0]:
                                latest[key] = (ts, n)
    return {k: v[1] for k, v in latest.items()}


def main():
    try:
        got = series(sys.argv[1])
    except FileNotFoundError:
        print(f"check: {sys.argv[1]}: nothing exported yet")
        return 1
    want = json.load(open(sys.argv[2]))
    ok = True
    for w in want:
        total = 0
        bad = []
        statuses = set()
        for (res, pa), n in got.items():
            res, pa = dict(res), dict(pa)
            if res.get("k8s.pod.uid") != w["resource"]["k8s.pod.uid"]:
                continue
            # the workload's shell; the runtime's own creations in the new
            # container (runc init making mount targets) are counted too,
            # under their own name, and are not the workload's files.
            if pa.get("kernelevents.process.comm") != "sh":
                continue
            total += n
            statuses.add(res.get("kernelevents.spiffe.status", "-"))
            diff = {k: (res.get(k), v) for k, v in w["resource"].items() if res.get(k) != v}
            if diff:
                bad.append((n, diff, res))
        name = f'{w["resource"]["k8s.namespace.name"]}/{w["resource"]["k8s.pod.name"]}'
        if total != w["files"] or bad:
            ok = False
            print(f"check: {name} ({w['prefix']}): {total} creations at the gateway, want {w['files']}")
            for n, diff, res in bad:
                print(f"  {n} counted on a resource that differs (got, want): {diff}")
                print(f"    resource: {res}")
            # What the gateway has of this pod under any name, and the
            # series that name no pod under the workload's directory.
            for (res, pa), n in got.items():
                res, pa = dict(res), dict(pa)
                if res.get("k8s.pod.uid") == w["resource"]["k8s.pod.uid"] or (
                        "k8s.pod.uid" not in res and w["prefix"].split("/")[-1] in pa.get("kernelevents.directory.prefix", "")):
                    print(f"  seen: {n} by {pa.get('kernelevents.process.comm')} in {pa.get('kernelevents.directory.prefix')} on {res}")
        else:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(w["resource"].items()))
            print(f"check: {name}: {total}/{w['files']} creations, each with {labels}"
                  f" (kernelevents.spiffe.status: {', '.join(sorted(statuses))})")
    if not ok:
        # Every pod the gateway has creations of, by name: is anything of
        # a pod arriving at all?
        pods = {}
        for (res, pa), n in got.items():
            res, pa = dict(res), dict(pa)
            k = (res.get("k8s.pod.uid", "-"), pa.get("kernelevents.process.comm"), res.get("kernelevents.spiffe.status", "-"))
            pods[k] = pods.get(k, 0) + n
        for (uid, comm, st), n in sorted(pods.items()):
            print(f"  gateway: pod {uid}: {n} by {comm} (spiffe status {st})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
