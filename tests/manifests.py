"""manifests.py -- deploy/base as tests read it: a file's documents, a
workload's one container, and its args with $(VAR) references expanded from
the ConfigMap and the downward API, as the kubelet does. Shared by
tests/deploy (no cluster) and tests/k8s (the real control plane)."""
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "deploy" / "base"


def load(name):
    """The non-empty YAML documents of deploy/base/<name>."""
    return [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]


def workload(workload_file):
    """The one DaemonSet or Deployment in deploy/base/<workload_file>."""
    (doc,) = [d for d in load(workload_file) if d["kind"] in ("DaemonSet", "Deployment")]
    return doc


def container(workload_file):
    (c,) = workload(workload_file)["spec"]["template"]["spec"]["containers"]
    return c


def expand(args, env):
    def sub(arg):
        return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)
    return [sub(a) for a in args]


def controller_env(pod_name="raysense-controller-7d4f9-abcde"):
    """What the controller's $(VAR)s expand from: its ConfigMap and POD_NAME."""
    (cm,) = load("controller-configmap.yaml")
    return dict(cm["data"], POD_NAME=pod_name)
