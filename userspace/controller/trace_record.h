/* trace_record.h -- the controller records a replay trace (docs/replay.md)
 * for `raysensectl replay`: a header line from the configuration (worker
 * groups, cluster settings, startup "recorded"), then per tick one line with
 * the demand that became pending since the previous tick and one line per
 * node startup the fusion model learned.  Task durations are not visible to
 * the controller: the header's task_duration_s (a flag's value) stands for
 * all of them.  Loop thread only; each line is flushed as written. */
#ifndef RAYSENSE_CONTROLLER_TRACE_RECORD_H
#define RAYSENSE_CONTROLLER_TRACE_RECORD_H

#include "controller/config.h"
#include "controller/fusion/fusion.h"
#include "controller/plan/plan_input.h"

struct trace_record;

/* Create (truncate) path and write the header; times in the trace count
 * from now.  0 or -errno. */
int trace_record_open(struct trace_record **out, const char *path,
		      const struct controller_config *cfg, double launch_timeout_s,
		      double task_duration_s, double now);
/* The loop's one call per tick, once the plan input is built (r NULL: no
 * recording, nothing done).  Newly pending = the rise of each shape's
 * pending count since the previous tick (a lower bound when tasks are
 * placed and submitted within one tick).  0 or -errno (-EIO: a write
 * failed; later ticks try again). */
int trace_record_tick(struct trace_record *r, const struct plan_input *p, const struct fusion *f);
void trace_record_close(struct trace_record *r);

#endif
