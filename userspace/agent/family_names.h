/* family_names.h -- the name of every Prometheus family the agent exports,
 * spelled once: the family table (snapshot.c), the collectors and the
 * exporters use these.  Only names: no other header is included, so any
 * module may use them without depending on a probe family. */
#ifndef RAYSENSE_AGENT_FAMILY_NAMES_H
#define RAYSENSE_AGENT_FAMILY_NAMES_H

/* raylet family (raylet.c, raylet_collect.c) */
#define RS_FAMILY_RAYLET_UP "raysense_raylet_up"
#define RS_FAMILY_LEASE_PROBES_ATTACHED "raysense_raylet_lease_probes_attached"
#define RS_FAMILY_LEASE_ATTACH_FRACTION "raysense_raylet_lease_probes_attach_fraction"
#define RS_FAMILY_LEASE_ATTACHED_SECONDS "raysense_raylet_lease_probes_attached_seconds_total"
#define RS_FAMILY_LEASE_PROBE_MISSING "raysense_raylet_lease_probe_missing"
#define RS_FAMILY_LEASE_LATENCY "raysense_raylet_lease_latency_seconds"
#define RS_FAMILY_LEASE_PHASE "raysense_raylet_lease_phase_seconds"
#define RS_FAMILY_LEASE_REQUESTS "raysense_raylet_lease_requests_total"
#define RS_FAMILY_LEASES "raysense_raylet_leases_total"
#define RS_FAMILY_LEASE_REPLIES "raysense_raylet_lease_replies_total"
#define RS_FAMILY_LEASE_PROBE_EVENTS "raysense_raylet_lease_probe_events_total"
#define RS_FAMILY_RUNQ_LATENCY "raysense_raylet_runq_latency_seconds"

/* lifecycle family (lifecycle*.c) */
#define RS_FAMILY_WORKER_STARTUP "raysense_worker_startup_seconds"
#define RS_FAMILY_WORKERS_STARTED "raysense_worker_processes_started_total"
#define RS_FAMILY_WORKER_STARTUP_FAILURES "raysense_worker_startup_failures_total"
#define RS_FAMILY_NODE_STARTUP_PHASE "raysense_node_startup_phase_seconds"
#define RS_FAMILY_GCS_ACCEPTED "raysense_gcs_accepted_connections_total"
#define RS_FAMILY_GCS_PEER_FIRST_SEEN "raysense_gcs_peer_first_seen_timestamp_seconds"
#define RS_FAMILY_GCS_PEER_ACCEPTED "raysense_gcs_peer_accepted_connections_total"

/* derived by the exporters, and the agent's own */
#define RS_FAMILY_STARTUP_PHASE_TIMESTAMP "raysense_startup_phase_timestamp_seconds"
#define RS_FAMILY_STARTUP_PHASE_SECONDS "raysense_startup_phase_seconds"
#define RS_FAMILY_WORKERS "raysense_workers"
#define RS_FAMILY_SECONDS_SINCE_BUSY "raysense_raylet_seconds_since_busy"
#define RS_FAMILY_PUSH_DROPPED "raysense_agent_push_dropped_total"
#define RS_FAMILY_PUSH_SENT "raysense_agent_push_sent_total"
#define RS_FAMILY_PUSH_FAILURES "raysense_agent_push_failures_total"
#define RS_FAMILY_PUSH_QUEUE_SNAPSHOTS "raysense_agent_push_queue_snapshots"
#define RS_FAMILY_PUSH_QUEUE_BYTES "raysense_agent_push_queue_bytes"
#define RS_FAMILY_AGENT_READY "raysense_agent_ready"
#define RS_FAMILY_AGENT_PROBE_FAMILY_ATTACHED "raysense_agent_probe_family_attached"
#define RS_FAMILY_AGENT_BUILD_INFO "raysense_agent_build_info"

#endif
