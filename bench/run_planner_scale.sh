#!/bin/sh
# run_planner_scale.sh -- issue 16's scale benchmark.
#
# Generates the scale cases (bench/gen_scale_cases.py), runs
# bench/planner_scale (plan once + render the JSON, one process per case) built
# from this tree and from a baseline commit (default: the merge-base with
# main), and prints for both the CPU time of plan + render and the peak RSS
# of the process (scenario parse included), with ratios, whether the round
# was cut by the work budget, and for this tree the scenario parse alone
# (CPU time, peak RSS when parsed) and the total of parse, plan and render.  The
# baseline is built in a temporary directory from `git archive`, with this
# tree's planner_scale.c added (it uses only the public planner API).  A
# baseline run is stopped after BASE_TIMEOUT seconds (default 60) and limited
# to BASE_MEM_KIB of address space (default 4 GiB).
#
# Usage: bench/run_planner_scale.sh [BUILD_DIR] [CASE...]
# Env:   BASE (commit, default merge-base with main; "none" skips it),
#        PYTHON (default <repo>/.venv/bin/python or python3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
build=${1:-${RAYSENSE_BUILD_DIR:-$repo/build}}
[ $# -gt 0 ] && shift
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
base=${BASE:-$(git -C "$repo" merge-base HEAD main)}
timeout_s=${BASE_TIMEOUT:-60}
mem_kib=${BASE_MEM_KIB:-4194304}
new_bin=$build/bench/planner_scale
[ -x "$new_bin" ] || { echo "missing $new_bin: build the planner_scale target" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

base_bin=
if [ "$base" != none ]; then
	mkdir "$work/base"
	git -C "$repo" archive "$base" | tar -x -C "$work/base"
	cp "$here/planner_scale.c" "$work/base/bench/"
	grep -q 'planner_scale' "$work/base/bench/CMakeLists.txt" ||
		printf 'add_executable(planner_scale planner_scale.c)\ntarget_link_libraries(planner_scale PRIVATE raysense_controller_core)\n' \
			>> "$work/base/bench/CMakeLists.txt"
	echo "building the baseline ($base) ..." >&2
	cmake -S "$work/base" -B "$work/base/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DRAYSENSE_BUILD_BPF=OFF >/dev/null
	cmake --build "$work/base/build" --target planner_scale -j1 >/dev/null
	base_bin=$work/base/build/bench/planner_scale
fi

# One run: "time rss_mib new_nodes cut parse_s parse_mib total_s" (time: plan +
# render; total: parse + plan + render, what `raysensectl plan` spends) or
# "timeout"/"failed".
run_one() {
	res=$( (ulimit -v "$mem_kib"; timeout "$timeout_s" "$1" "$2") 2>/dev/null) || {
		rc=$?
		[ $rc -eq 124 ] && echo ">${timeout_s}s - - - - - -" || echo "failed(rc=$rc) - - - - - -"
		return 0
	}
	echo "$res" | awk '{printf "%.3f %.0f %s %s %.3f %.0f %.3f\n", $1 + $2, $3 / 1024, $4, $6, $7, $8 / 1024, $1 + $2 + $7}'
}

"$python" "$here/gen_scale_cases.py" "$work/cases" "$@" > "$work/names"
printf '%-22s %9s %8s %8s %9s %8s %8s %7s %7s %9s %8s %9s %9s\n' case base_s base_MiB base_cut \
	new_s new_MiB new_cut time_x rss_x new_nodes parse_s parse_MiB total_s
while read -r name; do
	f=$work/cases/$name.json
	new=$(run_one "$new_bin" "$f")
	old="- - - - - - -"
	[ -n "$base_bin" ] && old=$(run_one "$base_bin" "$f")
	echo "$name $old $new" | awk '{
		ratio_t = ($2 + 0 > 0 && $9 + 0 > 0) ? sprintf("%.1fx", $2 / $9) : "-";
		ratio_m = ($3 + 0 > 0 && $10 + 0 > 0) ? sprintf("%.1fx", $3 / $10) : "-";
		printf "%-22s %9s %8s %8s %9s %8s %8s %7s %7s %9s %8s %9s %9s\n", $1, $2, $3, $5, $9, $10,
			$12, ratio_t, ratio_m, $11, $13, $14, $15 }'
done < "$work/names"
