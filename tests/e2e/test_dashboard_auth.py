"""Ray 2.60.0 token authentication (RAY_AUTH_MODE=token): the controller
sends the token from --dashboard-token-file as `x-ray-authorization: Bearer`
and works; without it every state call answers 401 and the controller holds,
saying so.  Real Ray head with token auth from tests/raycluster.py (the token
is passed through the environment only: writing ~/.ray/auth_token would turn
auth on for every Ray on the machine)."""
import os
import urllib.request
import uuid

import pytest

from controller_proc import Controller
from raycluster import RayCluster


class TokenRayCluster(RayCluster):
    """The shared fixture's cluster, whose own dashboard calls carry the token."""

    token = None

    def http_get(self, path, timeout=5.0):
        req = urllib.request.Request(self.dashboard_url + path,
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()


@pytest.fixture
def token_cluster():
    token = uuid.uuid4().hex + uuid.uuid4().hex
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = token
    c = TokenRayCluster()
    c.token = token
    try:
        c.start_head()
        yield c, token
    finally:
        c.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_token_auth(token_cluster, bin, tmp_path):
    cluster, token = token_cluster
    tok = tmp_path / "dashboard-token"
    tok.write_text(token + "\n")
    ok = Controller(bin("raysense-controller"), cluster, ["cpu1:CPU=1,max=1"],
                    extra=["--dashboard-token-file", str(tok)])
    try:
        st = ok.status()
        assert st.get("ray_version") == "2.60.0" and "holding" not in st, st
        assert not ok.actions("hold")
    finally:
        ok.stop()

    # Without the token: every state call answers 401; the controller holds.
    bad = Controller(bin("raysense-controller"), cluster, ["cpu1:CPU=1,max=1"], wait_ready=False)
    try:
        holds = bad.wait(lambda: bad.actions("hold"), 30, "hold without a token")
        assert "HTTP 401" in holds[0]["error"], holds
        assert bad.get_status_code("/readyz") == 503
    finally:
        bad.stop()
