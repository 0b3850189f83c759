// SPDX-License-Identifier: GPL-2.0
/* runqlat.bpf.c -- run-queue latency of raylet threads.
 *
 * libbpf-tools runqlat, raw-tracepoint flavour (tp_btf needs the `tracing`
 * program type, which these kernels lack): a thread becomes runnable at
 * sched_wakeup / sched_wakeup_new, or when it is preempted while still
 * runnable (sched_switch with prev in TASK_RUNNING); the delay ends when
 * sched_switch puts it on a CPU. Only threads of tracked raylets (rs_raylets,
 * filled by userspace discovery) are timed: the tgid check comes first, so
 * every other task costs one hash lookup. filter_raylets = false times all
 * tasks into key 0: the runqlat baseline of bench/bpf_overhead. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "raysense/hist.h"
#include "raysense/raylet.h"

#define TASK_RUNNING 0

const volatile bool filter_raylets = true;
/* Set by userspace (runq.c) when this kernel's sched_switch passes prev_state
 * as a 4th argument (5.18+, read from the kernel BTF): then the state costs
 * no helper call. Otherwise we read task_struct's state with CO-RE. */
const volatile bool prev_state_arg = false;

/* Same definition as in raylet.bpf.c: both objects share one pin. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RS_MAX_RAYLETS);
	__type(key, u32);
	__type(value, struct rs_raylet_info);
} rs_raylets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);       /* tid */
	__type(value, u64);     /* enqueue time */
} rs_runq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RS_MAX_RAYLETS);
	__type(key, u32);       /* raylet tgid (0 = all tasks, baseline) */
	__type(value, struct rs_hist);
} rs_runq_hist SEC(".maps");

static const struct rs_hist zero_hist;

/* task_struct::state became __state in 5.14 (commit 2f064a59a1); CO-RE picks
 * whichever this kernel has (libbpf-tools core_fixes.bpf.h). */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

struct task_struct___x {
	unsigned int __state;
} __attribute__((preserve_access_index));

static __always_inline long get_task_state(void *task)
{
	struct task_struct___x *t = task;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___o *)task, state);
}

static __always_inline bool tracked(u32 tgid)
{
	return !filter_raylets || bpf_map_lookup_elem(&rs_raylets, &tgid);
}

static __always_inline int trace_enqueue(u32 tgid, u32 pid)
{
	u64 ts;

	if (!pid || !tracked(tgid))
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&rs_runq_start, &pid, &ts, BPF_ANY);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(runq_wakeup, struct task_struct *p)
{
	return trace_enqueue(BPF_CORE_READ(p, tgid), BPF_CORE_READ(p, pid));
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(runq_wakeup_new, struct task_struct *p)
{
	return trace_enqueue(BPF_CORE_READ(p, tgid), BPF_CORE_READ(p, pid));
}

/* Is prev still on the run queue after this switch? With the raw prev_state
 * argument, a preempted task stays queued whatever its state (__schedule only
 * dequeues on a voluntary switch with a non-zero state); without it we do as
 * runqlat does and test for TASK_RUNNING. */
static __always_inline bool prev_still_runnable(unsigned long long *ctx, bool preempt,
						struct task_struct *prev)
{
	if (prev_state_arg)
		return preempt || (unsigned int)ctx[3] == TASK_RUNNING;
	return get_task_state(prev) == TASK_RUNNING;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(runq_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	u32 pid = BPF_CORE_READ(next, pid);
	struct rs_hist *h;
	u64 *tsp, delta;
	u32 key;

	/* Preempted while runnable: it waits in the run queue from now. */
	if (prev_still_runnable(ctx, preempt, prev))
		trace_enqueue(BPF_CORE_READ(prev, tgid), BPF_CORE_READ(prev, pid));

	tsp = bpf_map_lookup_elem(&rs_runq_start, &pid);
	if (!tsp)
		return 0;
	delta = bpf_ktime_get_ns() - *tsp;
	bpf_map_delete_elem(&rs_runq_start, &pid);

	key = filter_raylets ? BPF_CORE_READ(next, tgid) : 0;
	h = bpf_map_lookup_elem(&rs_runq_hist, &key);
	if (!h) {
		bpf_map_update_elem(&rs_runq_hist, &key, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&rs_runq_hist, &key);
		if (!h)
			return 0;
	}
	__sync_fetch_and_add(&h->slots[rs_hist_slot(delta)], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, delta);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
