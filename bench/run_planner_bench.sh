#!/bin/sh
# run_planner_bench.sh -- issue 5's planner benchmark.
#
# Generates the scenario (10,000 demand entries, 8 node types, 500 existing
# nodes), times raysense's C planner (bench/planner_bench, median of N runs)
# and, in the same run, Ray's own Python scheduler from the pinned Ray
# (ray.autoscaler.v2.scheduler.ResourceDemandScheduler, one schedule() call
# via bench/ray_plan.py), then prints both times, the ratio, and whether the
# two plans agree (nodes to launch per type, infeasible counts,
# terminations).
#
# Usage: bench/run_planner_bench.sh [BUILD_DIR] [ENTRIES] [NODES]
# Env:   PYTHON (default <repo>/.venv/bin/python), REPEAT (default 20)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
build=${1:-${RAYSENSE_BUILD_DIR:-$repo/build}}
entries=${2:-10000}
nodes=${3:-500}
python=${PYTHON:-$repo/.venv/bin/python}
repeat=${REPEAT:-20}
bench_bin=$build/bench/planner_bench
[ -x "$bench_bin" ] || { echo "missing $bench_bin: build the planner_bench target" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" "$here/gen_planner_scenario.py" "$work/scenario.json" --entries "$entries" --nodes "$nodes"
echo "scenario: $entries demand entries, 8 node types, $nodes existing nodes"

"$bench_bin" "$work/scenario.json" "$repeat" > "$work/c.json"
# Ray logs one line per min_workers/idle decision; keep its stderr apart.
(cd "$work" && "$python" "$here/ray_plan.py" "$work/scenario.json") > "$work/ray.json" 2> "$work/ray.log"

"$python" - "$work/c.json" "$work/ray.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))
agree_launch = c["desired"] == r["desired"]
agree_inf = c["infeasible"] == r["infeasible"]
agree_term = sorted((t["id"], t["reason"]) for t in c["terminate"]) == \
    sorted((t["id"], t["reason"]) for t in r["terminate"])
print("raysense C planner : %.4f s wall, %.4f s CPU (median of %d; min %.4f s wall; JSON parse %.4f s)"
      % (c["plan_s_median"], c["plan_cpu_s_median"], c["repeat"], c["plan_s_min"], c["parse_s"]))
print("Ray v2 scheduler   : %.4f s wall, %.4f s CPU (one ResourceDemandScheduler.schedule() call, ray %s)"
      % (r["seconds"], r["cpu_seconds"], __import__("ray").__version__))
print("ratio (Ray / raysense): %.0fx wall, %.0fx CPU"
      % (r["seconds"] / c["plan_s_median"], r["cpu_seconds"] / c["plan_cpu_s_median"]))
print("launches per type  : raysense %s" % json.dumps(c["desired"], sort_keys=True))
print("                     ray      %s" % json.dumps(r["desired"], sort_keys=True))
print("infeasible         : raysense %s" % json.dumps(c["infeasible"], sort_keys=True))
print("                     ray      %s" % json.dumps(r["infeasible"], sort_keys=True))
print("plans agree        : launches %s, infeasible %s, terminations %s"
      % ("yes" if agree_launch else "NO", "yes" if agree_inf else "NO",
         "yes" if agree_term else "NO"))
sys.exit(0 if agree_launch else 3)
PY
