/* snapshot.h -- one consistent read of everything the agent measured.
 *
 * This is the contract between the probe side (each family's collect(),
 * e.g. raylet_collect.c, reads the pinned BPF maps) and the output side (Prometheus text, JSON, push to the controller,
 * raysensectl). Collection reads maps by their pinned path, so raysensectl can
 * decode them with no agent running. */
#ifndef RAYSENSE_AGENT_SNAPSHOT_H
#define RAYSENSE_AGENT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raysense/hist.h"

#define RS_MAX_LABELS 6
#define RS_LABEL_KEY_LEN 32
#define RS_LABEL_VALUE_LEN 128

struct rs_label {
	char key[RS_LABEL_KEY_LEN];
	char value[RS_LABEL_VALUE_LEN];
};

/* One histogram series of a metric family, e.g. family
 * "raysense_raylet_lease_latency_seconds" with labels {raylet_pid="123"}. */
struct rs_hist_series {
	const char *family;     /* static string: the Prometheus family name */
	struct rs_label labels[RS_MAX_LABELS];
	int n_labels;
	struct rs_hist hist;    /* cumulative since the maps were created */
};

enum rs_value_kind {
	RS_VALUE_COUNTER = 0,
	RS_VALUE_GAUGE = 1,
};

/* One counter or gauge series. */
struct rs_value_series {
	const char *family;     /* static string */
	enum rs_value_kind kind;
	struct rs_label labels[RS_MAX_LABELS];
	int n_labels;
	double value;
};

/* Startup phases of one pod or Ray node, as wall-clock UNIX times in ns
 * (0 = not seen). Without Kubernetes the timeline starts at `ray start`. */
struct rs_timeline {
	char key[RS_LABEL_VALUE_LEN];   /* pod UID, or "pid:<ray start pid>" */
	char pod_uid[64];
	uint64_t cgroup_created_ns;
	uint64_t first_exec_ns;
	uint64_t raylet_exec_ns;
	uint64_t raylet_listen_ns;
	uint64_t gcs_connected_ns;
	uint32_t raylet_pid;
	char node_id[64];               /* its raylet's Ray node id while it runs, else "" */
};

/* The phases of a timeline, in order, and their names as exported (the
 * `phase` label of /metrics, the keys of /metrics.json timelines). The
 * initializer is a macro so raysensectl can name them without linking the
 * agent. */
enum rs_startup_phase {
	RS_STARTUP_CGROUP_CREATED,
	RS_STARTUP_FIRST_EXEC,
	RS_STARTUP_RAYLET_EXEC,
	RS_STARTUP_RAYLET_LISTEN,
	RS_STARTUP_GCS_CONNECTED,
	RS_STARTUP_PHASES,
};
#define RS_STARTUP_PHASE_NAMES_INIT                                            \
	{ "cgroup_created", "first_exec", "raylet_exec", "raylet_listen",      \
	  "gcs_connected" }
extern const char *const rs_startup_phase_names[RS_STARTUP_PHASES];

/* When the timeline reached phase p (ns, 0 = not seen), and when it started:
 * cgroup creation, else the first exec. */
uint64_t rs_timeline_phase_ns(const struct rs_timeline *t, enum rs_startup_phase p);
uint64_t rs_timeline_start_ns(const struct rs_timeline *t);

/* Per-node worker activity (what the controller uses to confirm idleness). */
struct rs_worker_activity {
	uint32_t raylet_pid;
	char node_id[64];           /* Ray node id when known, else "" */
	uint32_t busy_workers;
	uint32_t idle_workers;
	double seconds_since_busy;  /* < 0 = never seen busy */
};

/* Metadata of a metric family, for HELP/TYPE lines. */
struct rs_family_info {
	const char *family;
	const char *help;
	const char *type;           /* "histogram", "counter", "gauge" */
};

struct rs_snapshot {
	uint64_t taken_unix_ns;
	char hostname[128];
	char node_name[128];        /* Kubernetes node name (NODE_NAME env) or hostname */
	struct rs_hist_series *hists;
	size_t n_hists;
	struct rs_value_series *values;
	size_t n_values;
	struct rs_timeline *timelines;
	size_t n_timelines;
	struct rs_worker_activity *workers;
	size_t n_workers;
};

/* Fill *snap from the maps pinned under pin_dir (default /sys/fs/bpf/raysense).
 * Returns 0 or -errno (-ENOENT when nothing is pinned there). Free with
 * rs_snapshot_free(). Runs every family's collect() (snapshot.c). */
int rs_snapshot_collect(const char *pin_dir, struct rs_snapshot *snap);
void rs_snapshot_free(struct rs_snapshot *snap);

/* HELP/TYPE of every family the probe side exports, NULL-terminated
 * (snapshot.c). */
extern const struct rs_family_info rs_metric_families[];

#endif
