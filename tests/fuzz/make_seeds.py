#!/usr/bin/env python3
"""make_seeds.py -- (re)build tests/fuzz/seeds/<target>/ from the recorded
dashboard answers and agent pushes in tests/fixtures/ and the string literals of the unit
tests (adjacent C literals joined, escapes decoded), sorted to targets by
what they contain.  Run from anywhere; it replaces the seeds directory."""
import gzip, hashlib, json, pathlib, re, shutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "tests/fixtures/dashboard"
UNIT = ROOT / "tests/unit"
OUT = ROOT / "tests/fuzz/seeds"
LIT = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
RUN = re.compile(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+')


def c_literals(path):
    """Every run of adjacent C string literals in a file, decoded to bytes."""
    src = path.read_text()
    src = re.sub(r"//[^\n]*|/\*.*?\*/", " ", src, flags=re.S)
    for run in RUN.finditer(src):
        raw = "".join(LIT.findall(run.group(0)))
        try:
            yield raw.encode("latin-1").decode("unicode_escape").encode("latin-1")
        except (UnicodeDecodeError, UnicodeEncodeError):
            continue


def put(target, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def fixtures():
    for f in sorted(FIX.glob("*.json")):
        body, n = f.read_bytes(), f.name
        kind = ("dash_version" if n.startswith("version") else
                "dash_nodes" if n.startswith(("nodes", "v2_nodes_summary_x")) else
                "dash_api_pgs" if "pgs" in n else
                "dash_node_summary" if "nodes_summary" in n else
                "dash_status_text" if "status_text" in n else
                "dash_cluster_status" if "cluster_status" in n else "dash_pending")
        put(kind, body)
        data = json.loads(body).get("data", {})
        if kind == "dash_status_text" and isinstance(data.get("clusterStatus"), str):
            text = data["clusterStatus"].encode()
            put("rtext_status", text)
            for line in text.split(b"\n"):
                if line.startswith(b" {"):
                    put("rtext_pydict", line[1:])
        if kind == "dash_node_summary":
            for v in (data.get("nodeLogicalResources") or {}).values():
                put("rtext_node_usage", v.encode())


RULES = [  # (unit test file, needle, target)
    ("test_kuberay.c", b"workerGroupSpecs", "kuberay_raycluster"),
    ("test_kuberay.c", b'"items"', "kuberay_pods"),
    ("test_kuberay.c", b"resourceVersion", "lease"),
    ("test_controller_api.c", b"schema_version", "signals"),
    ("test_startup_report.c", b"schema_version", "signals"),
    ("test_controller_api.c", b"worker_groups", "config"),
    ("test_scenario.c", b"{", "scenario"),
    ("test_raylet_parse.c", b"--", "raylet_argv"),
    ("test_lifecycle_proc.c", b"--", "lc_cmdline"),
    ("test_cgroup_parse.c", b"/", "cgroup_path"),
    ("test_ray_text.c", b"{'", "rtext_pydict"),
    ("test_ray_text.c", b"Autoscaler status", "rtext_status"),
    ("test_ray_text.c", b"/", "rtext_node_usage"),
    ("test_dashboard_parse.c", b"result", "dash_nodes"),
    ("test_agent_auth.c", b"TokenReview", "token_review"),
    ("test_agent_auth.c", b'"items"', "node_pods"),
]


def token_reviews():
    """TokenReview answers as kube-apiserver v1.36 gives them (a pod-bound
    token, a refused one, an unbound one) and a JWT for the exp claim."""
    extra = {f"authentication.kubernetes.io/{k}": [v] for k, v in (
        ("credential-id", "JTI=1"), ("node-name", "kwok-node-0"), ("node-uid", "n"),
        ("pod-name", "pod-a"), ("pod-uid", "p"))}
    user = {"username": "system:serviceaccount:agent-auth:raysense-agent", "uid": "u",
            "groups": ["system:serviceaccounts", "system:authenticated"]}
    base = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "spec": {"token": "x", "audiences": ["raysense"]}}
    for status in ({"authenticated": True, "user": dict(user, extra=extra),
                    "audiences": ["raysense"]},
                   {"user": {}, "error": "[invalid bearer token, token lookup failed]"},
                   {"authenticated": True, "user": user, "audiences": ["raysense"]}):
        put("token_review", json.dumps(dict(base, status=status)).encode())
    put("token_review", b"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOlsicmF5c2Vuc2UiXSwiZXhwIjoxNzk2NDYxNjUwfQ.s")


def agent_pushes():
    """Real agents' pushes (tests/fixtures/agent/: the full snapshot and the
    compact push, captured by bench/agent_load/run.py), plain and gzip."""
    for f in sorted((ROOT / "tests/fixtures/agent").glob("*.json")):
        put("signals", f.read_bytes())
        put("signals", gzip.compress(f.read_bytes(), mtime=0))


def unit_literals():
    for name, needle, target in RULES:
        for lit in c_literals(UNIT / name):
            if needle in lit and len(lit) > 2:
                put(target, lit)
                if target == "signals":
                    put(target, gzip.compress(lit, mtime=0))


def gcs_answers():
    """GetAllResourceUsage answers recorded from a real GCS (tests/fixtures/gcs/)."""
    for f in sorted((ROOT / "tests/fixtures/gcs").glob("*.grpc")):
        put("gcs_load", f.read_bytes())


if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    fixtures()
    gcs_answers()
    agent_pushes()
    unit_literals()
    token_reviews()
    for d in sorted(OUT.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds")
