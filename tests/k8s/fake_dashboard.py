"""fake_dashboard.py - serves recorded Ray 2.60.0 dashboard answers
(tests/fixtures/dashboard), rewritten from a state file on every request, so
raysense-controller can run against the real Kubernetes control plane without
a Ray cluster: the dashboard is not what the Kubernetes tests exercise.

State file (JSON, re-read per request):
  {"tasks": N, "shape": {"CPU": 1.0},          N pending tasks of that shape
   "workers": [{"ip": "10.244.2.1", "node_id": "<56 hex>", "cpu": 2,
                "busy": false}, ...]}          ALIVE worker nodes named by IP,
                                               idle or busy in cluster_status
Usage: python fake_dashboard.py PORT_FILE STATE_FILE
"""

import copy
import http.server
import json
import sys
import time
import urllib.parse
from pathlib import Path

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dashboard"


def load(name):
    return json.loads((FIX / f"{name}.json").read_text())


def state_list(doc, rows):
    res = doc["data"]["result"]
    res["result"] = rows
    res["total"] = res["num_after_truncation"] = res["num_filtered"] = len(rows)
    return doc


def nodes(state):
    doc = load("nodes_head_only")
    head = doc["data"]["result"]["result"][0]
    rows = [head]
    for w in state.get("workers", []):
        n = copy.deepcopy(head)
        n.update(node_id=w["node_id"], node_ip=w["ip"], node_name=w["ip"], is_head_node=False,
                 resources_total={"CPU": float(w.get("cpu", 2)), "memory": 4.0 * 2**30,
                                  f"node:{w['ip']}": 1.0, "object_store_memory": 1e9},
                 labels={"ray.io/node-id": w["node_id"]})
        rows.append(n)
    return state_list(doc, rows)


def tasks(state, query):
    doc = load("tasks_pending")
    if "filter_keys" in query:      # "any work on this node?" -> none
        return state_list(doc, [])
    template = doc["data"]["result"]["result"][0]
    rows = []
    for i in range(state.get("tasks", 0)):
        t = copy.deepcopy(template)
        t["task_id"] = f"{i:048x}"
        t["required_resources"] = state.get("shape", {"CPU": 1.0})
        rows.append(t)
    return state_list(doc, rows)


def cluster_status(state):
    doc = load("cluster_status_idle")
    cs = doc["data"]["clusterStatus"]
    cs["time"] = time.time()
    lm = cs["loadMetricsReport"]
    # The controller counts state-API tasks only when newer than this report,
    # so the report carries the same demand (as Ray's monitor would).
    n = state.get("tasks", 0)
    lm["resourceDemand"] = [[state.get("shape", {"CPU": 1.0}), n]] if n else []
    lm["pgDemand"], lm["requestDemand"] = [], []
    head_id = load("nodes_head_only")["data"]["result"]["result"][0]["node_id"]
    usage = {head_id: lm.get("usageByNode", {}).get(head_id, {"memory": [0.0, 1.0]})}
    for w in state.get("workers", []):
        cpu = float(w.get("cpu", 2))
        usage[w["node_id"]] = {"CPU": [cpu if w.get("busy") else 0.0, cpu],
                               "memory": [0.0, 4.0 * 2**30]}
    lm["usageByNode"] = usage
    return doc


def main():
    port_file, state_file = sys.argv[1], Path(sys.argv[2])

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            state = json.loads(state_file.read_text())
            ctype, body = "application/json", None
            if url.path == "/api/gcs_healthz":
                ctype, body = "text/plain", "success"
            elif url.path == "/api/version":
                body = load("version")
            elif url.path == "/api/v0/nodes":
                body = nodes(state)
            elif url.path == "/api/v0/tasks":
                body = tasks(state, query)
            elif url.path == "/api/v0/actors":
                body = state_list(load("actors_pending"), [])
            elif url.path == "/api/cluster_status":
                body = cluster_status(state)
            data = (body if isinstance(body, str) else json.dumps(body)).encode() \
                if body is not None else b"not found"
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()
