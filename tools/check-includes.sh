#!/usr/bin/env bash
# check-includes.sh -- print the include graph of userspace/ and fail on a
# cycle or on an include that breaks the layering in docs/architecture.md:
#   - pure modules (the planner, the plan input and its JSON, the demand
#     types and parsers, idle runs, scenarios) include nothing that does I/O;
#   - common/ includes nothing from agent/, controller/ or ctl/;
#   - agent/ and controller/ do not include each other.
# A cycle counts between modules: foo.c and foo.h are one module.
# Usage: tools/check-includes.sh [--graph]   (--graph prints every edge)
# Exit 0 when clean, 1 with one line per violation.  Run by ctest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO/userspace"

# Pure modules, and the headers they must not reach directly.
PURE='^controller/(plan/(planner|planner_types|planner_pack|plan_input|plan_json|resmap|idle_tracker|scenario|replay|replay_trace)|source/(demand|pg_match|ray_text|lease_report)|fusion/(fusion|startup_model))\.[ch]$'
IO='^(common/(http_client|http_server|log|gzip)|controller/(source/(dashboard|source|bg_fetch|signals)|provider/(provider_kuberay|kube_client|leader)|act/actuator|api|controller))\.h$|^<(curl/|microhttpd|bpf/)'

edges="$(mktemp)"; trap 'rm -f "$edges"' EXIT
find common agent controller ctl -name '*.[ch]' | sort | while read -r f; do
  sed -n 's/^#include[[:space:]]*"\([^"]*\)".*/\1/p; s/^#include[[:space:]]*\(<[^>]*>\).*/\1/p' "$f" |
    while read -r inc; do
      case "$inc" in
      \<*) printf '%s %s\n' "$f" "$inc" ;;
      */*) printf '%s %s\n' "$f" "$inc" ;;
      *) printf '%s %s\n' "$f" "$(dirname "$f")/$inc" ;;   # same-directory include
      esac
    done
done >"$edges"

[ "${1:-}" = --graph ] && grep -v ' <' "$edges"

bad=0
while read -r from to; do
  if [[ "$from" =~ $PURE && "$to" =~ $IO ]]; then
    echo "layering: $from includes $to (a pure module must not do I/O)"; bad=1
  fi
  case "$from" in
  common/*) [[ "$to" =~ ^(agent|controller|ctl)/ ]] && { echo "layering: $from includes $to (common/ depends on nothing)"; bad=1; } ;;
  agent/*) [[ "$to" =~ ^controller/ ]] && { echo "layering: $from includes $to (agent and controller are separate)"; bad=1; } ;;
  controller/*) [[ "$to" =~ ^agent/ ]] && { echo "layering: $from includes $to (agent and controller are separate)"; bad=1; } ;;
  esac
done <"$edges"

# Cycles between modules (a module is a .c and its .h: foo.c and foo.h are
# one node), so a .c that includes a header that leads back to its own
# module's header is a circle too.  A module including itself is not.
modules="$(grep -v ' <' "$edges" | sed -E 's/\.[ch]( |$)/\1/g' | awk '$1 != $2')"
if ! out="$(printf '%s\n' "$modules" | tsort 2>&1 >/dev/null)" || [ -n "$out" ]; then
  echo "include cycle between modules: $(printf '%s' "$out" | grep -v 'input contains a loop' |
    sed 's/^tsort: //' | tr '\n' ' ')"; bad=1
fi
n_files=$(cut -d' ' -f1 "$edges" | sort -u | wc -l)
n_edges=$(grep -vc ' <' "$edges" || true)
[ "$bad" -eq 0 ] && echo "include graph: $n_files files, $n_edges project includes, no cycle, layering kept"
exit "$bad"
