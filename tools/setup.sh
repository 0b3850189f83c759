#!/usr/bin/env bash
# setup.sh -- install what raysense needs to build, demo and test, on Debian
# bookworm. Idempotent: a second run only checks and returns quickly.
#
#   tools/setup.sh            what the demo runs: apt packages, .venv, mounts
#   tools/setup.sh --tests    also what only the tests need (tools/test.sh):
#                             .venv-ray-taskera and the Kubernetes test
#                             environment (tools/k8s-testenv/build.sh)
#   --taskera, --k8s          one of those two parts
#   tools/setup.sh --matrix   the venvs of the version-matrix tier
#                             (tools/test.sh --matrix): one per line of
#                             tools/ray-versions
#
#   apt packages      compilers, libbpf/libelf/zlib/libcurl/cJSON/libmicrohttpd,
#                     bpftool, prometheus (tests)
#   .venv/            real Ray from PyPI (pinned in tools/requirements.txt)
#   .venv-ray-taskera/  an older, Task-era Ray (tools/requirements-taskera.txt),
#                     for tests/bpf/test_raylet_task_era.py only
#   .venv-ray-<V>/    ray[default]==<V> for each Ray release in
#                     tools/ray-versions (--matrix only)
#   k8s-testenv       kube-apiserver, etcd, KubeRay operator, kwok, helm... built
#                     from the Go module proxy into /var/cache/raysense/k8s-bin,
#                     for tests/k8s and the chart tests only
#   /sys/fs/bpf       bpffs, /sys/kernel/tracing tracefs (mounted if missing)
#
# Env: RAYSENSE_VENV (default <repo>/.venv), RAYSENSE_TASKERA_VENV (default
# <repo>/.venv-ray-taskera), RAYSENSE_SKIP_APT=1, RAYSENSE_SKIP_TASKERA=1,
# RAYSENSE_SKIP_K8S=1 (skip a part even when asked for).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RAYSENSE_VENV:-$REPO/.venv}"
TASKERA_VENV="${RAYSENSE_TASKERA_VENV:-$REPO/.venv-ray-taskera}"
log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

WANT_TASKERA=0; WANT_K8S=0; WANT_MATRIX=0
for arg in "$@"; do
  case "$arg" in
  --tests) WANT_TASKERA=1; WANT_K8S=1 ;;
  --taskera) WANT_TASKERA=1 ;;
  --k8s) WANT_K8S=1 ;;
  --matrix) WANT_MATRIX=1 ;;
  *) echo "usage: tools/setup.sh [--tests | --taskera | --k8s | --matrix]" >&2; exit 2 ;;
  esac
done
[ "${RAYSENSE_SKIP_TASKERA:-0}" = 1 ] && WANT_TASKERA=0
[ "${RAYSENSE_SKIP_K8S:-0}" = 1 ] && WANT_K8S=0

APT_PACKAGES=(
  build-essential cmake pkg-config git curl unzip jq openssl procps iproute2 psmisc
  clang llvm bpftool libclang-rt-dev
  libbpf-dev libelf-dev zlib1g-dev libcurl4-openssl-dev libcjson-dev libmicrohttpd-dev
  prometheus
  python3 python3-venv
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_apt() {
  [ "${RAYSENSE_SKIP_APT:-0}" = 1 ] && { log "skipping apt (RAYSENSE_SKIP_APT=1)"; return; }
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "apt packages present"
    return
  fi
  log "installing apt packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian starts a prometheus service on install; tests run their own.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    as_root systemctl stop prometheus || true
  fi
}

pick_python() {
  # Ray 2.60 supports CPython 3.10-3.13.
  for py in python3.11 python3.12 python3.10 python3.13 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys, venv; sys.exit(0 if (3,10) <= sys.version_info[:2] <= (3,13) else 1)' 2>/dev/null; then
      command -v "$py"; return
    fi
  done
  echo "no CPython 3.10-3.13 with the venv module found" >&2
  return 1
}

# install_venv DIR REQUIREMENTS: create DIR if missing and install the pinned
# requirements; skipped when DIR's stamp equals the requirements file.
install_venv() {
  local venv="$1" req="$2"
  local stamp="$venv/.raysense-requirements"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$req"; then
    log "python venv up to date ($venv)"
    return
  fi
  local py; py="$(pick_python)"
  log "creating venv $venv with $py"
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

# install_matrix: one venv per line of tools/ray-versions. The lines naming
# .venv or .venv-ray-taskera reuse those venvs, whose requirements file must
# pin the same release (checked, so the table never names a version that
# was not the one run).
install_matrix() {
  local version venv req
  while read -r version venv; do
    case "$version" in ''|'#'*) continue ;; esac
    case "$venv" in
    .venv) req="$REPO/tools/requirements.txt" ;;
    .venv-ray-taskera) req="$REPO/tools/requirements-taskera.txt" ;;
    *)
      req="$(mktemp /tmp/raysense-ray-req.XXXXXX)"
      printf 'ray[default]==%s\n' "$version" > "$req"
      install_venv "$REPO/$venv" "$req"
      rm -f "$req"
      continue ;;
    esac
    grep -qxF "ray[default]==$version" "$req" ||
      { log "tools/ray-versions says $venv is Ray $version, but $req pins another"; return 1; }
    install_venv "$REPO/$venv" "$req"
  done < "$REPO/tools/ray-versions"
}

mount_fs() {
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: not mounting bpffs/tracefs (the agent and BPF tests need root)"
    return
  fi
  if ! mountpoint -q /sys/fs/bpf; then
    log "mounting bpffs on /sys/fs/bpf"
    mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf
  fi
  if [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
    log "mounting tracefs on /sys/kernel/tracing"
    mount -t tracefs tracefs /sys/kernel/tracing || log "warning: tracefs mount failed"
  fi
}

check_kernel() {
  [ -r /sys/kernel/btf/vmlinux ] || log "WARNING: no /sys/kernel/btf/vmlinux: the agent cannot be built or run here"
}

install_apt
install_venv "$VENV" "$REPO/tools/requirements.txt"
if [ "$WANT_TASKERA" = 1 ]; then
  install_venv "$TASKERA_VENV" "$REPO/tools/requirements-taskera.txt"
fi
if [ "$WANT_MATRIX" = 1 ]; then
  install_matrix
fi
mount_fs
check_kernel
if [ "$WANT_K8S" = 1 ]; then
  "$REPO/tools/k8s-testenv/build.sh"
fi
log "setup done"
