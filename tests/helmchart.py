"""helmchart.py -- the Helm chart deploy/helm/raysense as tests read it: the
helm binary (tools/k8s-testenv/build.sh's version-keyed build), `helm
template` of the chart with value files, and lookups in what it renders.
Shared by tests/deploy (no cluster) and tests/k8s (helm install)."""
import subprocess

import pytest
import yaml
from manifests import REPO

CHART = REPO / "deploy" / "helm" / "raysense"
EXAMPLES = CHART / "examples"
TESTENV = REPO / "tools" / "k8s-testenv"
RELEASE_NS = "raysense-system"


def helm_path():
    """The cached helm binary; built (tools/k8s-testenv/build.sh helm) when
    missing. Fails, never skips, when it cannot be had."""
    def cached():
        out = subprocess.run(["bash", "-c", f'source "{TESTENV}/lib.sh"; component_bin helm'],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    path = cached()
    try:
        if subprocess.run([path, "version", "--short"], capture_output=True).returncode == 0:
            return path
    except OSError:
        pass
    build = subprocess.run([str(TESTENV / "build.sh"), "helm"], capture_output=True, text=True,
                           timeout=3600)
    if build.returncode != 0:
        pytest.fail("tools/k8s-testenv/build.sh helm failed:\n" + build.stderr[-3000:], pytrace=False)
    return cached()


def run_helm(helm, *args, check=True, timeout=120):
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stderr}{proc.stdout}")
    return proc


def template(helm, *values, sets=(), namespace=RELEASE_NS, check=True):
    """`helm template raysense <chart>` with value files (paths, or names in
    examples/) and --set pairs; returns the documents, or the failed process
    when check is False and helm refuses."""
    args = ["template", "raysense", str(CHART), "--namespace", namespace]
    for v in values:
        path = v if "/" in str(v) else EXAMPLES / v
        args += ["-f", str(path)]
    for s in sets:
        args += ["--set", s]
    proc = run_helm(helm, *args, check=check)
    if proc.returncode != 0:
        return proc
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def find(docs, kind, name=None, namespace=None):
    """The documents of a kind (and name, namespace)."""
    return [d for d in docs if d["kind"] == kind
            and (name is None or d["metadata"]["name"] == name)
            and (namespace is None or d["metadata"].get("namespace") == namespace)]


def one(docs, kind, name=None, namespace=None):
    (doc,) = find(docs, kind, name, namespace)
    return doc


def pod_container(workload):
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    return c


def flags(container):
    """--flag=value args as a dict (flags without a value map to True)."""
    out = {}
    for a in container["args"]:
        key, eq, value = a.partition("=")
        out[key] = value if eq else True
    return out
