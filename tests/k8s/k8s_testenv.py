"""k8s_testenv.py - handle on the local Kubernetes control plane started by
tools/k8s-testenv/up.sh: paths, a kubectl helper, raw HTTPS API access with
status codes (for 409/422 checks), and a polling helper.
"""

import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

TESTENV = Path(__file__).resolve().parents[2] / "tools" / "k8s-testenv"


def _decode(raw):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


class ControlPlane:
    """Handle on a running control plane (paths, kubectl and raw API access)."""

    def __init__(self, env_file: Path):
        values = {}
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value
        self.kubeconfig = values["KUBECONFIG"]
        self.server = values["K8S_SERVER"]
        self.ca = values["K8S_CA"]
        self.state_dir = Path(values["K8S_STATE"])
        self.kubectl_bin = values["K8S_KUBECTL"]
        self.helm_bin = values.get("K8S_HELM")
        self.regular_node = values["K8S_REGULAR_NODE"]
        self.eci_node = values["K8S_ECI_NODE"]
        self.regular_node_ip = values["K8S_REGULAR_NODE_IP"]
        self.eci_node_ip = values["K8S_ECI_NODE_IP"]
        self.eci_start_delay_ms = int(values["K8S_ECI_START_DELAY_MS"])
        self.eci_delete_delay_ms = int(values["K8S_ECI_DELETE_DELAY_MS"])
        self.client_cert = str(self.state_dir / "pki" / "admin.crt")
        self.client_key = str(self.state_dir / "pki" / "admin.key")
        self._ssl = ssl.create_default_context(cafile=self.ca)
        self._ssl.load_cert_chain(self.client_cert, self.client_key)
        # No client certificate: the API server would take it before a token.
        self._ssl_token = ssl.create_default_context(cafile=self.ca)

    def kubectl(self, *args, input=None, check=True, timeout=60):
        """Run kubectl as cluster admin; returns the CompletedProcess."""
        proc = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args],
            input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stderr}{proc.stdout}")
        return proc

    def helm(self, *args, check=True, timeout=180):
        """Run helm against this control plane; returns the CompletedProcess."""
        proc = subprocess.run([self.helm_bin, "--kubeconfig", self.kubeconfig, *args],
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr}{proc.stdout}")
        return proc

    def get_json(self, *args):
        """kubectl get ... -o json, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def api(self, method, path, body=None, content_type="application/json", token=None):
        """Raw HTTPS request to the API server, as cluster admin or, with
        `token`, as that bearer token (e.g. a ServiceAccount's); returns
        (status, body), the body parsed as JSON when it is JSON (/readyz
        answers plain text). Connection errors (API server down) raise OSError."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        ctx = self._ssl
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
            ctx = self._ssl_token
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())

    def ctl(self, action, component):
        """Stop/start/restart one component (tools/k8s-testenv/ctl.sh)."""
        env = dict(os.environ, RAYSENSE_K8S_STATE=str(self.state_dir))
        proc = subprocess.run([str(TESTENV / "ctl.sh"), action, component], env=env,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"ctl.sh {action} {component} failed:\n{proc.stderr}")

    def api_reachable(self):
        """True when the API server answers /readyz with 200."""
        try:
            return self.api("GET", "/readyz")[0] == 200
        except OSError:
            return False

    def log(self, component):
        return (self.state_dir / "logs" / f"{component}.log").read_text(errors="replace")


def wait_until(what, predicate, timeout=60.0, interval=0.5):
    """Poll predicate() until it returns a truthy value; fail with `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
