/* push_compact.h -- the compact push document (schema_version 2,
 * docs/push-schema.json): the full snapshot (schema_version 1,
 * docs/snapshot-schema.json) cut down to what the controller reads, so that
 * each push costs the controller a small parse instead of a 15-25 KB one
 * (docs/agent-load.md).
 *
 * Kept: seq, taken_unix_ms, interval_seconds, node {node_name, hostname},
 * every $.workers[] entry; of $.histograms[] only the lease latency family
 * (labels: node_id; delta: count and slots); of $.values[] only the lease
 * outcome counters (labels: node_id and outcome; value) the controller adds
 * up, "rejected" and "spilled_back" (another outcome stays only for a raylet
 * that has neither); of $.timelines[]
 * raylet_pid and the three phase times the controller's startup report uses
 * (cgroup_created, first_exec, gcs_connected).  Everything kept has the same
 * name, shape and value as in the full document, so the controller parses
 * both versions with the same code and gets the same signals. */
#ifndef RAYSENSE_AGENT_PUSH_COMPACT_H
#define RAYSENSE_AGENT_PUSH_COMPACT_H

#include <cjson/cJSON.h>

#define RS_PUSH_COMPACT_SCHEMA_VERSION 2

/* Cut a schema_version 1 document (rs_push_build_snapshot) down to the
 * compact one, in place (only deletions: no allocation).  0, or -EINVAL
 * when doc is not a version 1 document (then unchanged). */
int rs_push_compact(cJSON *doc);

#endif
