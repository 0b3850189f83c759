/* runq.h -- load and attach bpf/runqlat.bpf.c (run-queue latency of the
 * threads of tracked raylets). The raylet family (raylet.c) owns it: the
 * tgid filter is the rs_raylets map that raylet discovery fills, shared with
 * raylet.bpf.c through its pin. */
#ifndef RAYSENSE_AGENT_RUNQ_H
#define RAYSENSE_AGENT_RUNQ_H

#include <stdbool.h>

struct runqlat_bpf;

/* Open, load and attach. pin_dir NULL = no pinning (benchmarks);
 * filter_raylets false = time every task into key 0 (runqlat baseline).
 * Returns 0 or -errno; on error nothing stays attached. */
int rs_runq_open(const char *pin_dir, bool filter_raylets, struct runqlat_bpf **out);
void rs_runq_close(struct runqlat_bpf *skel);

#endif
