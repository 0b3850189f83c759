/* raylet.h -- the "raylet" probe family (bpf/raylet.bpf.c, plus the run-queue
 * probes of runq.h that it owns): lease RPC latency, outcomes and phases per
 * raylet, and run-queue latency of raylet threads. Loader in raylet.c,
 * collector in raylet_collect.c; the BPF-shared types and pinned map names
 * are in raysense/raylet.h. */
#ifndef RAYSENSE_AGENT_RAYLET_H
#define RAYSENSE_AGENT_RAYLET_H

#include "agent/family_names.h"

#include "agent/probe.h"

extern const struct rs_probe_family rs_raylet_family;

/* Families this probe family exports (HELP/TYPE in snapshot.c). */

/* collect() of the family (raylet_collect.c): reads the pinned maps. */
int rs_raylet_collect(const char *pin_dir, struct rs_snapshot *snap);

#endif
