"""Fixtures of the version-matrix tier (tools/test.sh --matrix).

The tier runs this directory once per line of tools/ray-versions, with
RAYSENSE_VENV=<that release's venv> (tests/raycluster.py then runs that Ray)
and RAYSENSE_MATRIX_VERSION=<the release>. Each test records what it
measured under its own key in RAYSENSE_MATRIX_RESULTS (a JSON file), from
which support_table.py writes the README's support table. The tests use
tests/conftest.py's ray_cluster (a head of the release RAYSENSE_VENV runs).
test_missing_probe.py runs only for the oldest supported release.
Not part of the plain pytest tier (tools/test.sh passes --ignore)."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for d in ("bpf", "e2e"):   # agentutil, seed_scenario, controller_proc
    sys.path.insert(0, os.path.join(TESTS, d))
from raycluster import RAY_BIN, REPO  # noqa: E402


def oldest_supported():
    """The first release of tools/ray-versions."""
    with open(os.path.join(REPO, "tools", "ray-versions")) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if fields:
                return fields[0]
    return None


# The missing-symbol test is about the agent, not about one release: it runs
# once, on the oldest supported release (not collected for the others).
collect_ignore = []
if os.environ.get("RAYSENSE_MATRIX_VERSION") != oldest_supported():
    collect_ignore.append("test_missing_probe.py")


@pytest.fixture(scope="session")
def matrix_version():
    """The Ray release under test: RAYSENSE_MATRIX_VERSION, checked against
    what the venv really runs (so the table never names a release that was
    not the one run)."""
    want = os.environ.get("RAYSENSE_MATRIX_VERSION")
    if not want:
        pytest.fail("RAYSENSE_MATRIX_VERSION is not set: run tools/test.sh --matrix")
    if not os.access(RAY_BIN, os.X_OK):
        pytest.fail(f"no Ray at {RAY_BIN}: run tools/setup.sh --matrix")
    out = subprocess.run([RAY_BIN, "--version"], capture_output=True, text=True, check=True).stdout
    assert f"version {want}" in out, f"{RAY_BIN} is not Ray {want}: {out!r}"
    return want


@pytest.fixture(scope="session")
def record(matrix_version):
    """record(key, value): merge one test's outcome into the results file."""
    path = os.environ.get("RAYSENSE_MATRIX_RESULTS")

    def put(key, value):
        if not path:
            return
        data = {"version": matrix_version}
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
        data[key] = value
        with open(path, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
    return put
