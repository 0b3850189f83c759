#!/usr/bin/env bash
# run.sh -- the replay bench: `raysensectl replay --json` on each trace here
# (burst, diurnal, flapping, slow_eci; written by gen_traces.py, format in
# docs/replay.md) and one table of Ray's semantics vs raysense with signals,
# with the ratios raysense / Ray.
# Usage: bench/replay/run.sh [BUILD_DIR] [TRACE...]   (default build/, all traces)
# Exit 0 when, on every trace, raysense uses fewer node-seconds or has a
# shorter time to capacity (p50 or p99) and never serves less; 1 otherwise.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${1:-$HERE/../../build}"
shift || true
CTL="$BUILD/raysensectl"
[ -x "$CTL" ] || { echo "run.sh: $CTL missing: build first" >&2; exit 2; }
if [ $# -eq 0 ]; then
  set -- "$HERE"/burst.jsonl "$HERE"/diurnal.jsonl "$HERE"/flapping.jsonl "$HERE"/slow_eci.jsonl
fi
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
for t in "$@"; do
  "$CTL" replay --json "$t" >>"$out"
done
python3 - "$out" <<'PY'
import json, os, sys

rows = [json.loads(l) for l in open(sys.argv[1])]
def r(x):
    return "-" if x is None else f"{x:.2f}"
head = ("trace", "tasks", "node-s ray", "node-s rs", "ratio", "p50 ray", "p50 rs", "ratio",
        "p99 ray", "p99 rs", "ratio", "launch ray", "launch rs", "unserved", "gain")
fmt = "%-9s %6s %10s %10s %6s %7s %7s %6s %7s %7s %6s %10s %9s %8s %5s"
print(fmt % head)
ok_all = True
for d in rows:
    a, b, q = d["ray"], d["raysense"], d["ratio"]
    def less(k):
        return b[k] < a[k]
    ok = (less("node_seconds") or less("ttc_p50_s") or less("ttc_p99_s")) and \
        b["unserved"] <= a["unserved"]
    ok_all &= ok
    print(fmt % (os.path.basename(d["trace"]).rsplit(".", 1)[0], d["tasks"],
                 f"{a['node_seconds']:.0f}", f"{b['node_seconds']:.0f}", r(q["node_seconds"]),
                 f"{a['ttc_p50_s']:.0f}", f"{b['ttc_p50_s']:.0f}", r(q["ttc_p50_s"]),
                 f"{a['ttc_p99_s']:.0f}", f"{b['ttc_p99_s']:.0f}", r(q["ttc_p99_s"]),
                 a["launches"], b["launches"], f"{a['unserved']}/{b['unserved']}",
                 "yes" if ok else "NO"))
print("ratio = raysense / Ray; p50/p99 = time to capacity (s, submit -> placed); "
      "unserved = Ray/raysense tasks never placed")
sys.exit(0 if ok_all else 1)
PY
