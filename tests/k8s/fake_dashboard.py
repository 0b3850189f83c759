"""fake_dashboard.py - serves recorded Ray 2.60.0 dashboard answers
(tests/fixtures/dashboard) so raysense-controller can run against the real
Kubernetes control plane without a Ray cluster: the dashboard is not what the
Kubernetes tests exercise.  The pending tasks are rewritten to a given shape.

Usage: python fake_dashboard.py PORT_FILE TASK_SHAPE_JSON N_TASKS
"""

import copy
import http.server
import json
import sys
from pathlib import Path

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dashboard"


def load(name):
    return json.loads((FIX / f"{name}.json").read_text())


def answers(shape, n_tasks):
    tasks = load("tasks_pending")
    template = tasks["data"]["result"]["result"][0]
    rows = []
    for i in range(n_tasks):
        t = copy.deepcopy(template)
        t["task_id"] = f"{i:048x}"
        t["required_resources"] = shape
        rows.append(t)
    res = tasks["data"]["result"]
    res["result"], res["total"], res["num_after_truncation"], res["num_filtered"] = \
        rows, n_tasks, n_tasks, n_tasks
    actors = load("actors_pending")
    ares = actors["data"]["result"]
    ares["result"], ares["total"], ares["num_after_truncation"], ares["num_filtered"] = [], 0, 0, 0
    return {
        "/api/gcs_healthz": ("text/plain", b"success"),
        "/api/version": ("application/json", json.dumps(load("version")).encode()),
        "/api/v0/nodes": ("application/json", json.dumps(load("nodes_head_only")).encode()),
        "/api/v0/tasks": ("application/json", json.dumps(tasks).encode()),
        "/api/v0/actors": ("application/json", json.dumps(actors).encode()),
        "/api/cluster_status": ("application/json",
                                json.dumps(load("cluster_status_idle")).encode()),
    }


def main():
    port_file, shape, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    table = answers(shape, n)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            ctype, body = table.get(self.path.split("?", 1)[0], ("text/plain", None))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", ctype)
            body = body or b"not found"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()
