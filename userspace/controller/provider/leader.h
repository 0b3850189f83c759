/* leader.h -- leader election over a coordination.k8s.io/v1 Lease, with
 * client-go's semantics (tools/leaderelection, resourcelock/leaselock.go):
 *
 *  - tryAcquireOrRenew: GET the Lease; 404 -> CREATE it with us as holder.
 *    Another holder's lease is valid while less than leaseDurationSeconds
 *    have passed since WE observed its record change (local monotonic
 *    clock, so clock skew between replicas does not matter).  Otherwise PUT
 *    the last-read object (its resourceVersion makes the write conditional:
 *    a concurrent writer gets 409 and we re-read next time).  Taking over
 *    bumps leaseTransitions and sets acquireTime; renewing keeps both.
 *  - attempts every retry_period; a leader that has not renewed within
 *    renew_deadline stops leading (before anyone else may take over, since
 *    lease_duration > renew_deadline);
 *  - leader_release() (ReleaseOnCancel): PUT holderIdentity "" and
 *    leaseDurationSeconds 1, so a successor takes over at once.
 * Times in the record are MicroTime: RFC 3339 UTC with microseconds. */
#ifndef RAYSENSE_CONTROLLER_LEADER_H
#define RAYSENSE_CONTROLLER_LEADER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "controller/provider/kube_client.h"

#define LEADER_ID_MAX 128

struct lease_record {
	char holder[LEADER_ID_MAX];	/* "" = released */
	int duration_s;
	double acquire_time;		/* UNIX seconds; 0 = unset */
	double renew_time;
	int transitions;
};

struct leader_config {
	struct kube_client *kube;
	const char *ns;
	const char *name;		/* Lease name */
	const char *identity;		/* holderIdentity; unique per replica */
	double lease_duration_s;	/* default 15 */
	double renew_deadline_s;	/* default 10 */
	double retry_period_s;		/* default 2 */
};

struct leader {
	struct leader_config cfg;
	bool leading;
	double last_attempt;		/* monotonic */
	double last_renew;		/* monotonic time of our last successful write */
	/* What we last read: record, its raw form for change detection, when
	 * it last changed (monotonic), and the whole object to PUT back. */
	struct lease_record observed;
	char *observed_raw;
	double observed_at;
	char *object_json;
	long acquisitions;		/* times we became leader */
	long api_errors;
	char last_error[KUBE_ERR_LEN];
	/* background renewal (leader_start_renewer) */
	pthread_t thread;
	bool thread_started;
	volatile sig_atomic_t thread_stop;
	volatile sig_atomic_t *on_loss;
};

/* Validates the timing rule duration > deadline > 1.2*retry.  0 or -EINVAL. */
int leader_init(struct leader *le, const struct leader_config *cfg, char *err);
void leader_free(struct leader *le);
/* Call often (every control-loop tick); attempts at most every retry period.
 * Returns whether we lead now.  now = monotonic seconds. */
bool leader_tick(struct leader *le, double now);
/* Attempt once now; 0 = we hold the lease, -EBUSY = someone else does,
 * other -errno = API error. */
int leader_try_acquire_or_renew(struct leader *le, double now);
/* Give the lease up if we hold it.  0 or -errno. */
int leader_release(struct leader *le);

/* For a process that runs its control loop only while leading (the
 * controller-runtime model): block until we lead (0) or *stop is set
 * (-EINTR); then renew from a thread that sets *on_loss (and logs) if the
 * lease is lost, after which the process should exit and be restarted.
 * The leader's kube_client must not be used by anyone else meanwhile. */
int leader_acquire_blocking(struct leader *le, volatile sig_atomic_t *stop);
int leader_start_renewer(struct leader *le, volatile sig_atomic_t *on_loss);
/* Stop the renewal thread (no release; call leader_release after). */
void leader_stop_renewer(struct leader *le);

/* Pure helpers, exposed for tests. */
int lease_time_format(double unix_s, char *buf, size_t size);	/* 2006-01-02T15:04:05.000000Z */
int lease_time_parse(const char *s, double *unix_s);
/* spec of a Lease object -> record.  0 or -EINVAL (err says which field). */
int lease_record_decode(const char *json, size_t len, struct lease_record *r,
			char *resource_version, size_t rv_size, char *err);
/* A whole Lease object with spec from r; resource_version NULL for a create. */
char *lease_record_encode(const struct lease_record *r, const char *ns, const char *name,
			  const char *resource_version);

#endif
