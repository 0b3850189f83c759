"""Session fixture: a real local Kubernetes control plane for the k8s test tier.

Runs tools/k8s-testenv/build.sh (a no-op when the version-keyed binary cache
is warm) and up.sh (etcd, kube-apiserver with RBAC, controller-manager,
scheduler, the KubeRay operator, kwok with a regular and an ECI node), yields a
k8s_testenv.ControlPlane, and always runs down.sh afterwards.

If the binaries cannot be built or the control plane does not come up, the
tests fail loudly: there is deliberately no skip.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8s_testenv import ControlPlane  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TESTENV = REPO / "tools" / "k8s-testenv"

# ECI pods take a while to start and to go away; these delays make the
# simulated virtual node show Pending and Terminating windows.
ECI_START_DELAY_MS = 3000
ECI_DELETE_DELAY_MS = 3000


def _run_script(name, env, timeout):
    proc = subprocess.run([str(TESTENV / name)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc


@pytest.fixture(scope="session")
def k8s(tmp_path_factory):
    env = dict(os.environ)
    # build.sh finds Go (or fetches it from the Go module proxy) itself.
    build = _run_script("build.sh", env, timeout=4 * 3600)
    if build.returncode != 0:
        pytest.fail("tools/k8s-testenv/build.sh failed, the Kubernetes tier cannot run:\n"
                    + build.stderr[-4000:], pytrace=False)

    state = tmp_path_factory.mktemp("k8s-state")
    env["RAYSENSE_K8S_STATE"] = str(state)
    env["RAYSENSE_K8S_ECI_START_DELAY_MS"] = str(ECI_START_DELAY_MS)
    env["RAYSENSE_K8S_ECI_DELETE_DELAY_MS"] = str(ECI_DELETE_DELAY_MS)
    try:
        up = _run_script("up.sh", env, timeout=600)
        if up.returncode != 0:
            pytest.fail("tools/k8s-testenv/up.sh failed:\n" + up.stderr[-6000:],
                        pytrace=False)
        yield ControlPlane(state / "env")
    finally:
        down = _run_script("down.sh", env, timeout=120)
        if down.returncode != 0:
            print("tools/k8s-testenv/down.sh failed:\n" + down.stderr)
