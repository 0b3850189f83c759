/* raylet.h -- the "raylet" probe family (bpf/raylet.bpf.c, plus the run-queue
 * probes of runq.h that it owns): lease RPC latency, outcomes and phases per
 * raylet, and run-queue latency of raylet threads. Loader in raylet.c,
 * collector in raylet_collect.c; the BPF-shared types and pinned map names
 * are in raysense/raylet.h. */
#ifndef RAYSENSE_AGENT_RAYLET_H
#define RAYSENSE_AGENT_RAYLET_H

#include "agent/probe.h"

extern const struct rs_probe_family rs_raylet_family;

/* Families this probe family exports (HELP/TYPE in snapshot.c). */
#define RS_FAMILY_RAYLET_UP "raysense_raylet_up"
#define RS_FAMILY_LEASE_PROBES_ATTACHED "raysense_raylet_lease_probes_attached"
#define RS_FAMILY_LEASE_LATENCY "raysense_raylet_lease_latency_seconds"
#define RS_FAMILY_LEASE_PHASE "raysense_raylet_lease_phase_seconds"
#define RS_FAMILY_LEASE_REQUESTS "raysense_raylet_lease_requests_total"
#define RS_FAMILY_LEASES "raysense_raylet_leases_total"
#define RS_FAMILY_LEASE_REPLIES "raysense_raylet_lease_replies_total"
#define RS_FAMILY_LEASE_PROBE_EVENTS "raysense_raylet_lease_probe_events_total"
#define RS_FAMILY_RUNQ_LATENCY "raysense_raylet_runq_latency_seconds"

/* collect() of the family (raylet_collect.c): reads the pinned maps. */
int rs_raylet_collect(const char *pin_dir, struct rs_snapshot *snap);

#endif
