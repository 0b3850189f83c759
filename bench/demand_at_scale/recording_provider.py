"""recording_provider.py -- Ray's fake_multinode provider, minus the nodes.

RecordingProvider is FakeMultiNodeProvider (ray/autoscaler/_private/
fake_multi_node/node_provider.py) with one change: a launch records the
decision (a JSON line: time, node type, resources) in the file named by
$RAYSENSE_BENCH_LAUNCH_LOG and adds the node to the provider's table, but
starts no raylet. Ray's autoscaler (v1 StandardAutoscaler or v2) therefore
sees its launches as nodes that never join, which is what a cloud looks like
during the first seconds of a scale-up, and the bench can count launch
decisions without starting thousands of raylets on a 2-core machine.

Loaded by the autoscaler as `provider: {type: external, module:
recording_provider.RecordingProvider}` with this folder on PYTHONPATH, and
the head started with RAY_FAKE_CLUSTER=1 (required by the parent class).
"""
import json
import os
import time

from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider
from ray.autoscaler.tags import (
    NODE_KIND_WORKER,
    STATUS_UP_TO_DATE,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_NAME,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)


class RecordingProvider(FakeMultiNodeProvider):
    def _record(self, rec):
        path = os.environ.get("RAYSENSE_BENCH_LAUNCH_LOG")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    def _create_node_with_resources_and_labels(self, node_config, tags, count, resources, labels):
        with self.lock:
            node_type = tags[TAG_RAY_USER_NODE_TYPE]
            next_id = self._next_hex_node_id()
            all_tags = {
                TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
                TAG_RAY_USER_NODE_TYPE: node_type,
                TAG_RAY_NODE_NAME: next_id,
                TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
            }
            all_tags.update(tags)
            self._nodes[next_id] = {"tags": all_tags, "node": None}
            self._record({"t": time.time(), "event": "launch", "node_type": node_type,
                          "node_id": next_id, "resources": dict(resources or {})})

    def _terminate_node(self, node):
        self._record({"t": time.time(), "event": "terminate",
                      "node_type": node["tags"].get(TAG_RAY_USER_NODE_TYPE)})
