/* runq.c -- run-queue latency loader (runq.h). */
#include "agent/runq.h"
#include "agent/bpf_pin.h"
#include "raysense/raylet.h"
#include "common/log.h"

#include "runqlat.skel.h"

#include <bpf/btf.h>
#include <errno.h>
#include <string.h>

/* Does sched_switch pass prev_state as its 4th argument (Linux 5.18+)? The
 * answer is in the kernel BTF: typedef btf_trace_sched_switch is a pointer to
 * a func proto of (void *, bool, prev, next[, unsigned int prev_state]). */
static bool kernel_has_prev_state_arg(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool yes = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	if (t)
		t = btf__type_by_id(btf, t->type);          /* -> pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);          /* -> func proto */
	if (t && btf_is_func_proto(t))
		yes = btf_vlen(t) == 5;
	btf__free(btf);
	return yes;
}

static const char *const runq_pinned_maps[] = { RS_RL_MAP_RAYLETS, RS_RL_MAP_RUNQ_HIST, NULL };

int rs_runq_open(const char *pin_dir, bool filter_raylets, struct runqlat_bpf **out)
{
	struct runqlat_bpf *skel = runqlat_bpf__open();
	int err;

	*out = NULL;
	if (!skel)
		return -errno ? -errno : -ENOMEM;
	skel->rodata->filter_raylets = filter_raylets;
	skel->rodata->prev_state_arg = kernel_has_prev_state_arg();
	rs_debug("runqlat: sched_switch prev_state argument %s",
		 skel->rodata->prev_state_arg ? "present (5.18+)" : "absent: reading task state with CO-RE");
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
