"""fake_controller.py -- a stand-in for raysense-controller, to check run.py's hook.

Polls DASHBOARD/api/cluster_status?format=1 every second and, the first time a
task shape appears in its "Pending Demands" lines, prints on stderr a JSON line
shaped like the controller's decisions: {"action":"launch","time_unix":T,
"demand":[{"cause":"shape","count":N,"shape":{...}}]}. Not a controller: no
planning, no provider. Usage (from run.py):
  --phases controller --controller '.venv/bin/python bench/demand_at_scale/fake_controller.py {dashboard}'
"""
import ast
import json
import re
import sys
import time
import urllib.request

LINE = re.compile(r"^\s*(\{.*?\}):\s*(\d+)\+ pending tasks/actors")


def main():
    base = sys.argv[1]
    seen = set()
    deadline = time.time() + float(sys.argv[2] if len(sys.argv) > 2 else 600)
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/cluster_status?format=1", timeout=5) as r:
                text = json.loads(r.read())["data"].get("clusterStatus") or ""
        except Exception:  # noqa: BLE001 - keep polling
            text = ""
        for line in text.splitlines():
            m = LINE.match(line)
            if m and m.group(1) not in seen:
                seen.add(m.group(1))
                print(json.dumps({"action": "launch", "time_unix": time.time(),
                                  "demand": [{"cause": "shape", "count": int(m.group(2)),
                                              "shape": ast.literal_eval(m.group(1))}]}),
                      file=sys.stderr, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
