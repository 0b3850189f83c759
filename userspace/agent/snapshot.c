/* snapshot.c -- building a snapshot: the appenders used by each family's
 * collect(), and the HELP/TYPE metadata of every exported family
 * (snapshot.h).  rs_snapshot_collect(), which runs every family's collect(),
 * is in families.c, next to the family list. */
#include "agent/snapshot.h"

#include "agent/family_names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const struct rs_family_info rs_metric_families[] = {
	/* raylet family (raylet.c, raylet_collect.c) */
	{ RS_FAMILY_RAYLET_UP,
	  "1 while a running agent watches this raylet (pid alive, probes attached), else 0.",
	  "gauge" },
	{ RS_FAMILY_LEASE_PROBES_ATTACHED,
	  "1 while the RequestWorkerLease HandleRequest/OnReplySent uprobes are attached to this "
	  "raylet (with --lease-probes=duty, only inside a window); 0 when detached or when its binary "
	  "lacks those symbols (see the agent log for which).",
	  "gauge" },
	{ RS_FAMILY_LEASE_ATTACH_FRACTION,
	  "Share of the time since this raylet was found during which the lease family named by the "
	  "family label was sampled (request probe attached; --lease-probes=duty attaches for windows): "
	  "counts and histograms cover only that share, so rate / fraction estimates all leases.",
	  "gauge" },
	{ RS_FAMILY_LEASE_ATTACHED_SECONDS,
	  "Seconds this raylet's lease families were sampled (request probe attached) since the agent "
	  "began tracking it: rate(counts) / rate(this) over the same range is the leases per second "
	  "of the whole range, and a range where this did not grow has no lease data (not zero leases).",
	  "counter" },
	{ RS_FAMILY_LEASE_PROBE_MISSING,
	  "1 for each lease uprobe the agent wanted on this raylet but could not attach, by probe "
	  "and reason: symbol_not_found (this Ray release's raylet lacks the function) or "
	  "attach_failed (the kernel refused it); the signals of that probe are off there.",
	  "gauge" },
	{ RS_FAMILY_LEASE_LATENCY,
	  "Raylet RequestWorkerLease RPC latency: ServerCallImpl::HandleRequest (request arrived) to "
	  "OnReplySent/OnReplyFailed (reply written), per RPC; the same span as Ray's "
	  "grpc_server_req_process_time_ms.",
	  "histogram" },
	{ RS_FAMILY_LEASE_PHASE,
	  "Opt-in (--lease-phases) phases of one lease inside the raylet: queued (local lease manager "
	  "queue to PopWorker), worker_wait (PopWorker to PoppedWorkerHandler), to_grant (local queue "
	  "to Grant).",
	  "histogram" },
	{ RS_FAMILY_LEASE_REQUESTS,
	  "RequestWorkerLease RPCs received by the raylet (HandleRequest uprobe hits).",
	  "counter" },
	{ RS_FAMILY_LEASES,
	  "Lease outcomes, read from the RequestWorkerLeaseReply the raylet serializes: granted "
	  "(worker_address), spilled_back (retry_at_raylet_address), rejected, cancelled, other.",
	  "counter" },
	{ RS_FAMILY_LEASE_REPLIES,
	  "Lease RPC replies by delivery: sent (OnReplySent) or failed (OnReplyFailed).",
	  "counter" },
	{ RS_FAMILY_LEASE_PROBE_EVENTS,
	  "Probe bookkeeping: reply_unmatched (reply without a recorded request, e.g. agent started "
	  "mid-RPC), inflight_dropped (in-flight map full), phase_unmatched (phase probe saw an "
	  "unknown lease).",
	  "counter" },
	{ RS_FAMILY_RUNQ_LATENCY,
	  "Run-queue latency of raylet threads: time runnable (woken or preempted) before running "
	  "on a CPU (sched_wakeup, sched_wakeup_new, sched_switch).",
	  "histogram" },
	/* Families of other probe families are listed below this line. */
	/* lifecycle family (lifecycle.c, lifecycle_collect.c) */
	{ RS_FAMILY_WORKER_STARTUP,
	  "Worker process startup: the raylet's fork of the worker to the worker's first TCP "
	  "listen (its gRPC server, opened just before it registers with the raylet).",
	  "histogram" },
	{ RS_FAMILY_WORKERS_STARTED,
	  "Worker processes a raylet forked and exec'd (*_worker.py).",
	  "counter" },
	{ RS_FAMILY_WORKER_STARTUP_FAILURES,
	  "Worker processes that exited before becoming ready (reason=exited), or after more "
	  "than Ray's 60 s registration timeout (reason=timeout).",
	  "counter" },
	{ RS_FAMILY_NODE_STARTUP_PHASE,
	  "Node/pod startup phases: first_exec (pod cgroup -> first exec), raylet_exec (first "
	  "exec or `ray start` -> raylet exec), raylet_listen and gcs_connected (raylet exec -> "
	  "that event; the raylet does both concurrently).",
	  "histogram" },
	{ RS_FAMILY_GCS_ACCEPTED,
	  "TCP connections accepted on a gcs_server listening port.",
	  "counter" },
	{ RS_FAMILY_GCS_PEER_FIRST_SEEN,
	  "UNIX time of the first connection a gcs_server accepted from a peer address.",
	  "gauge" },
	{ RS_FAMILY_GCS_PEER_ACCEPTED,
	  "TCP connections a gcs_server accepted from a peer address.",
	  "counter" },
	{ NULL, NULL, NULL },
};

const char *const rs_startup_phase_names[RS_STARTUP_PHASES] = RS_STARTUP_PHASE_NAMES_INIT;

uint64_t rs_timeline_phase_ns(const struct rs_timeline *t, enum rs_startup_phase p)
{
	const uint64_t at[RS_STARTUP_PHASES] = { t->cgroup_created_ns, t->first_exec_ns,
						 t->raylet_exec_ns, t->raylet_listen_ns,
						 t->gcs_connected_ns };

	return (unsigned)p < RS_STARTUP_PHASES ? at[p] : 0;
}

uint64_t rs_timeline_start_ns(const struct rs_timeline *t)
{
	return t->cgroup_created_ns ? t->cgroup_created_ns : t->first_exec_ns;
}

static void copy_labels(struct rs_label *dst, int *n, const char *const *labels)
{
	*n = 0;
	for (int i = 0; labels && labels[i] && labels[i + 1] && *n < RS_MAX_LABELS; i += 2) {
		strncpy(dst[*n].key, labels[i], RS_LABEL_KEY_LEN - 1);
		dst[*n].key[RS_LABEL_KEY_LEN - 1] = '\0';
		strncpy(dst[*n].value, labels[i + 1], RS_LABEL_VALUE_LEN - 1);
		dst[*n].value[RS_LABEL_VALUE_LEN - 1] = '\0';
		(*n)++;
	}
}

/* Grow an array by one element; returns the new slot or NULL. */
static void *grow(void **arr, size_t *n, size_t elem)
{
	void *p = realloc(*arr, (*n + 1) * elem);

	if (!p)
		return NULL;
	*arr = p;
	p = (char *)p + *n * elem;
	memset(p, 0, elem);
	(*n)++;
	return p;
}

int rs_snapshot_add_hist(struct rs_snapshot *snap, const char *family,
			 const char *const *labels, const struct rs_hist *hist)
{
	struct rs_hist_series *s = grow((void **)&snap->hists, &snap->n_hists, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->family = family;
	copy_labels(s->labels, &s->n_labels, labels);
	s->hist = *hist;
	return 0;
}

int rs_snapshot_add_value(struct rs_snapshot *snap, const char *family,
			  enum rs_value_kind kind, const char *const *labels, double value)
{
	struct rs_value_series *v = grow((void **)&snap->values, &snap->n_values, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->family = family;
	v->kind = kind;
	copy_labels(v->labels, &v->n_labels, labels);
	v->value = value;
	return 0;
}

int rs_snapshot_add_timeline(struct rs_snapshot *snap, const struct rs_timeline *t)
{
	struct rs_timeline *d = grow((void **)&snap->timelines, &snap->n_timelines, sizeof(*d));

	if (!d)
		return -ENOMEM;
	*d = *t;
	return 0;
}

int rs_snapshot_add_worker(struct rs_snapshot *snap, const struct rs_worker_activity *w)
{
	struct rs_worker_activity *d = grow((void **)&snap->workers, &snap->n_workers, sizeof(*d));

	if (!d)
		return -ENOMEM;
	*d = *w;
	return 0;
}

void rs_snapshot_free(struct rs_snapshot *snap)
{
	free(snap->hists);
	free(snap->values);
	free(snap->timelines);
	free(snap->workers);
	memset(snap, 0, sizeof(*snap));
}
