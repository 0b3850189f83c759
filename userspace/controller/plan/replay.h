/* replay.h -- replay a recorded demand trace through two control loops and
 * measure what each costs and how fast it serves: (a) Ray's semantics (a
 * 5 s loop, the planner alone: in flight until ALIVE, the configured launch
 * timeout, plain idle timeouts) and (b) raysense with signals (a 1 s loop,
 * the planner wrapped in the fusion rules, fusion/fusion.h).  Both plan
 * through the controller's own path: a simulated dashboard snapshot and
 * provider list -> plan_input_build -> [fusion_adjust_input] ->
 * planner_plan -> [fusion_filter_plan].
 *
 * The trace format (JSON lines, docs/replay.md) is parsed by
 * replay_trace_parse (replay_trace.c); the simulation is replay_run
 * (replay.c).  Pure: no I/O, no clock; a seed in the trace makes every
 * random draw (startup times, nodes that never start) repeatable, and both
 * arms get the same draws for the k-th launch of each group. */
#ifndef RAYSENSE_CONTROLLER_REPLAY_H
#define RAYSENSE_CONTROLLER_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/config.h"
#include "controller/fusion/fusion.h"
#include "controller/plan/resmap.h"

/* Documents larger than this are refused before parsing. */
#define REPLAY_MAX_BYTES (64u << 20)
#define REPLAY_MAX_TASKS 2000000L
#define REPLAY_MAX_END_S (7 * 86400.0)

enum replay_dist {
	REPLAY_FIXED,		/* "fixed": always s */
	REPLAY_LOGNORMAL,	/* "lognormal": median_s x exp(sigma x N(0,1)) */
	REPLAY_SAMPLES,		/* "samples": one of samples_s, uniformly */
	REPLAY_RECORDED,	/* "recorded": the trace's startup lines for the group, else s */
};

/* How a group's nodes start. */
struct replay_startup {
	enum replay_dist dist;
	double s;		/* FIXED; RECORDED when nothing was recorded */
	double median_s, sigma;	/* LOGNORMAL */
	double *samples;	/* SAMPLES and RECORDED (owned) */
	size_t sample_count;
	double never_p;		/* probability that a node never becomes ALIVE */
	/* Launch -> the node's machine runs (provider_node.started_at): 0 for
	 * processes and ECS, a scheduling delay for ECI. */
	double started_after_s;
};

struct replay_submit {
	double t;		/* seconds from the trace start */
	size_t shape;		/* into replay_trace.shapes */
	long count;
	double duration_s;	/* each task runs this long once placed */
};

/* One arm's control loop. */
struct replay_loop {
	double interval_s;	/* Ray 5, raysense 1 */
	double demand_lag_s;	/* demand submitted less than this ago is not seen yet */
	bool signals;		/* the fusion rules on (raysense) or off (Ray) */
};

struct replay_trace {
	struct controller_config cfg;		/* groups and cluster settings (owned) */
	struct replay_startup *startup;		/* [cfg.group_count] */
	double launch_timeout_s;		/* the controller's --launch-timeout */
	uint64_t seed;
	double end_s;				/* the simulation stops here */
	struct replay_loop ray, raysense;
	struct fusion_config fusion;		/* the raysense arm's knobs */
	struct resmap *shapes;			/* distinct task shapes */
	size_t shape_count;
	struct replay_submit *subs;		/* in time order */
	size_t sub_count;
	long task_count;
};

/* Parse a trace.  0, -EINVAL (err says which line and what: "line 3:
 * $.submit[0].count: expected a whole number"), -EFBIG or -ENOMEM. */
int replay_trace_parse(const char *buf, size_t len, struct replay_trace *out, char *err,
		       size_t err_size);
void replay_trace_free(struct replay_trace *t);

struct replay_metrics {
	double node_seconds;		/* launch -> stop (or the end), summed */
	double ttc_p50_s, ttc_p99_s;	/* time to capacity: submit -> placed */
	double ttc_mean_s, ttc_max_s;
	long launches;
	long gave_up;			/* launches stopped for never becoming ALIVE */
	long idle_stops;
	long fallbacks;			/* stuck launches fusion gave up on early */
	long tasks, served, unserved;	/* unserved: never placed by the end */
	int peak_nodes;			/* pending + alive at once */
};

/* Run one arm over the whole trace.  0, -ENOMEM or -EINVAL (the planner
 * refused the input: err says why). */
int replay_run(const struct replay_trace *t, const struct replay_loop *loop,
	       struct replay_metrics *out, char *err, size_t err_size);

#endif
