/* runq.c -- run-queue latency loader (runq.h). */
#include "agent/runq.h"
#include "agent/bpf_pin.h"
#include "common/log.h"

#include "runqlat.skel.h"

#include <errno.h>
#include <string.h>

static const char *const runq_pinned_maps[] = { "rs_raylets", "rs_runq_hist", NULL };

int rs_runq_open(const char *pin_dir, bool filter_raylets, struct runqlat_bpf **out)
{
	struct runqlat_bpf *skel = runqlat_bpf__open();
	int err;

	*out = NULL;
	if (!skel)
		return -errno ? -errno : -ENOMEM;
	skel->rodata->filter_raylets = filter_raylets;
	if (pin_dir) {
		err = rs_bpf_pin_maps(skel->obj, pin_dir, runq_pinned_maps);
		if (err)
			goto cleanup;
	}
	err = runqlat_bpf__load(skel);
	if (err) {
		rs_error("cannot load runqlat BPF programs: %s", strerror(-err));
		goto cleanup;
	}
	err = runqlat_bpf__attach(skel);
	if (err) {
		rs_error("cannot attach sched tracepoints for run-queue latency: %s", strerror(-err));
		goto cleanup;
	}
	*out = skel;
	return 0;
cleanup:
	runqlat_bpf__destroy(skel);
	return err;
}

void rs_runq_close(struct runqlat_bpf *skel)
{
	runqlat_bpf__destroy(skel);
}
