"""Shared pytest fixtures for raysense.

- build_dir: where the CMake build put the binaries (RAYSENSE_BUILD_DIR, default <repo>/build).
- bin(name): path of a built binary; fails (not skips) when it is missing.
- ray_cluster: a real Ray head (num-cpus=0) per test module; add workers with
  ray_cluster.add_worker(num_cpus=..., resources=...). Always torn down.
- fresh_ray_cluster: the same, per test function (for tests that scale nodes).
- require_bpf: skips LOUDLY (reason printed in the summary, see -rs) when not
  root or without kernel BTF; these are the only allowed skips.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raycluster import REPO, RayCluster  # noqa: E402


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


@pytest.fixture(scope="session")
def build_dir():
    d = os.environ.get("RAYSENSE_BUILD_DIR", os.path.join(REPO, "build"))
    if not os.path.isdir(d):
        pytest.fail(f"build dir {d} does not exist: build first (tools/build.sh)")
    return d


@pytest.fixture(scope="session")
def bin(build_dir):  # noqa: A001 - fixture name reads well in tests
    def path(name):
        p = os.path.join(build_dir, name)
        if not os.access(p, os.X_OK):
            pytest.fail(f"binary {p} is missing: the build did not produce it")
        return p
    return path


def bpf_unavailable_reason():
    if os.geteuid() != 0:
        return "not root: BPF tests need CAP_BPF/CAP_PERFMON"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "no kernel BTF at /sys/kernel/btf/vmlinux"
    return None


@pytest.fixture
def require_bpf():
    reason = bpf_unavailable_reason()
    if reason:
        sys.stderr.write(f"\n*** SKIPPING BPF TEST: {reason} ***\n")
        pytest.skip(f"BPF unavailable: {reason}")


@pytest.fixture(scope="module")
def ray_cluster():
    c = RayCluster()
    try:
        c.start_head()
        yield c
    finally:
        c.stop()


@pytest.fixture
def fresh_ray_cluster():
    c = RayCluster()
    try:
        c.start_head()
        yield c
    finally:
        c.stop()
