// SPDX-License-Identifier: GPL-2.0
/* raylet.bpf.c -- lease latency of the Ray raylet, from uprobes.
 *
 * Default pair (2 uprobe hits per lease RPC):
 *   HandleRequest (gRPC thread, request arrived)  -> start[tgid, call] = now
 *   OnReplySent   (gRPC thread, reply on the wire) -> hist[tgid, RPC] += now - start
 * keyed by the ServerCallImpl object (`this`), which is the same object in
 * both calls; this is exactly what Ray's grpc_server_req_process_time_ms
 * measures. The reply's serializer tells the outcome (granted, spilled
 * back, rejected, cancelled): 2 more hits per lease.
 * Opt-in phase probes key the internal::Work object of one lease through the
 * lease managers and the worker pool (see include/raysense/raylet.h).
 *
 * The uprobes are attached per raylet pid by userspace (raylet.c); the two
 * sched tracepoints tell userspace when a raylet execs or exits. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "raysense/hist.h"
#include "raysense/raylet.h"

/* Raylets being tracked (tgid -> info); userspace writes it. Shared with
 * runqlat.bpf.c through the same pin. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RS_MAX_RAYLETS);
	__type(key, u32);
	__type(value, struct rs_raylet_info);
} rs_raylets SEC(".maps");

/* Labels of every raylet that has series (live or recently exited), so a
 * series keeps its labels after its raylet exits. Written by userspace only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RS_MAX_RAYLETS);
	__type(key, u32);
	__type(value, struct rs_raylet_info);
} rs_raylet_meta SEC(".maps");

/* In-flight lease RPCs. LRU: a reply lost (raylet killed mid-RPC) must not
 * leak an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RS_MAX_INFLIGHT);
	__type(key, struct rs_call_key);
	__type(value, u64);
} rs_lease_start SEC(".maps");

/* In-flight leases seen by the phase probes, key {tgid, Work*}. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RS_MAX_INFLIGHT);
	__type(key, struct rs_call_key);
	__type(value, struct rs_work_times);
} rs_lease_work SEC(".maps");

/* The grpc::ByteBuffer a thread is serializing a lease reply into
 * (pid_tgid -> ByteBuffer*), from the serializer's entry to its return. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} rs_reply_out SEC(".maps");

/* Last Work* passed to ScheduleOnNode by a thread (tid -> Work*). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} rs_sched_tid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RS_MAX_RAYLETS * RS_PH_COUNT);
	__type(key, struct rs_lease_hkey);
	__type(value, struct rs_hist);
} rs_lease_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RS_MAX_RAYLETS);
	__type(key, u32);
	__type(value, struct rs_lease_counts);
} rs_lease_cnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rs_raylet_ev SEC(".maps");

/* libbpf 1.1's bpf_tracing.h stops at PARM5. */
#if defined(__TARGET_ARCH_x86)
#define RS_PT_REGS_PARM6(x) ((x)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define RS_PT_REGS_PARM6(x) (((const struct user_pt_regs *)(x))->regs[5])
#else
#error "raylet.bpf.c: add the 6th-argument register of this architecture"
#endif

static const struct rs_hist zero_hist;
static const struct rs_lease_counts zero_counts;

static __always_inline u32 current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline struct rs_lease_counts *counts_of(u32 tgid)
{
	struct rs_lease_counts *c = bpf_map_lookup_elem(&rs_lease_cnt, &tgid);

	if (c)
		return c;
	bpf_map_update_elem(&rs_lease_cnt, &tgid, &zero_counts, BPF_NOEXIST);
	return bpf_map_lookup_elem(&rs_lease_cnt, &tgid);
}

static __always_inline void hist_add(u32 tgid, u32 phase, u64 delta_ns)
{
	struct rs_lease_hkey key = { .tgid = tgid, .phase = phase };
	struct rs_hist *h = bpf_map_lookup_elem(&rs_lease_hist, &key);

	if (!h) {
		bpf_map_update_elem(&rs_lease_hist, &key, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&rs_lease_hist, &key);
		if (!h)
			return;
	}
	__sync_fetch_and_add(&h->slots[rs_hist_slot(delta_ns)], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, delta_ns);
}

/* shared_ptr<T> passed by (hidden) reference: the element pointer is the
 * first word of libstdc++'s shared_ptr. */
static __always_inline u64 deref_sptr(const void *sptr)
{
	u64 elem = 0;

	bpf_probe_read_user(&elem, sizeof(elem), sptr);
	return elem;
}

/* ---- default pair ------------------------------------------------------ */

SEC("uprobe")
int BPF_KPROBE(lease_request, void *call)
{
	struct rs_call_key key = { .tgid = current_tgid(), .call = (u64)call };
	u64 now = bpf_ktime_get_ns();
	struct rs_lease_counts *c = counts_of(key.tgid);

	if (c)
		__sync_fetch_and_add(&c->requests, 1);
	if (bpf_map_update_elem(&rs_lease_start, &key, &now, BPF_ANY) && c)
		__sync_fetch_and_add(&c->dropped, 1);
	return 0;
}

static __always_inline int lease_done(void *call, bool sent)
{
	struct rs_call_key key = { .tgid = current_tgid(), .call = (u64)call };
	struct rs_lease_counts *c = counts_of(key.tgid);
	u64 *start = bpf_map_lookup_elem(&rs_lease_start, &key);
	u64 now = bpf_ktime_get_ns();

	if (!start) {
		if (c)
			__sync_fetch_and_add(&c->unmatched, 1);
		return 0;
	}
	/* Ray's own metric records both sent and failed replies; so do we. */
	hist_add(key.tgid, RS_PH_RPC, now - *start);
	bpf_map_delete_elem(&rs_lease_start, &key);
	if (c) {
		if (sent)
			__sync_fetch_and_add(&c->replied, 1);
		else
			__sync_fetch_and_add(&c->failed, 1);
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(lease_reply, void *call)
{
	return lease_done(call, true);
}

SEC("uprobe")
int BPF_KPROBE(lease_reply_fail, void *call)
{
	return lease_done(call, false);
}

/* ---- outcome pair: the reply as serialized ---------------------------- */

/* grpc::GenericSerialize<ProtoBufferWriter, RequestWorkerLeaseReply>(msg,
 * ByteBuffer *bb, bool *own) serializes the reply the raylet is sending into
 * bb; it exists only for this reply type, so it fires once per reply. It
 * returns grpc::Status by value, through a hidden pointer: in rdi on x86-64
 * (so bb is the 3rd register), in x8 on arm64 (so bb is the 2nd). */
#if defined(__TARGET_ARCH_x86)
#define RS_SERIALIZE_BB(ctx) PT_REGS_PARM3(ctx)
#else
#define RS_SERIALIZE_BB(ctx) PT_REGS_PARM2(ctx)
#endif

SEC("uprobe")
int lease_outcome(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u64 bb = (u64)RS_SERIALIZE_BB(ctx);

	bpf_map_update_elem(&rs_reply_out, &id, &bb, BPF_ANY);
	return 0;
}

/* First byte of the wire bytes in a grpc::ByteBuffer, 0 if none. The walk
 * follows gRPC's public C structs (see RS_GRPC_* in raylet.h). */
static __always_inline u8 first_wire_byte(u64 bb)
{
	u64 raw = 0, slices = 0, count = 0, refcount = 0, bytes = 0;
	u8 first = 0;

	if (bpf_probe_read_user(&raw, sizeof(raw), (void *)bb) || !raw ||
	    bpf_probe_read_user(&slices, sizeof(slices), (void *)(raw + RS_GRPC_BB_SLICES)) ||
	    bpf_probe_read_user(&count, sizeof(count), (void *)(raw + RS_GRPC_BB_COUNT)) ||
	    !slices || !count ||
	    bpf_probe_read_user(&refcount, sizeof(refcount), (void *)slices))
		return 0;
	if (!refcount) {   /* inlined slice: length byte, then the bytes */
		u8 len = 0;

		if (bpf_probe_read_user(&len, 1, (void *)(slices + RS_GRPC_SLICE_INLINED_LEN)) || !len)
			return 0;
		bytes = slices + RS_GRPC_SLICE_INLINED_BYTES;
	} else if (bpf_probe_read_user(&bytes, sizeof(bytes), (void *)(slices + RS_GRPC_SLICE_BYTES))) {
		return 0;
	}
	if (!bytes || bpf_probe_read_user(&first, 1, (void *)bytes))
		return 0;
	return first;
}

static __always_inline void count_outcome(struct rs_lease_counts *c, u8 first_tag)
{
	switch (first_tag) {
	case RS_PB_TAG(RS_REPLY_FIELD_WORKER_ADDRESS, RS_PB_LEN):
		__sync_fetch_and_add(&c->granted, 1);
		break;
	case RS_PB_TAG(RS_REPLY_FIELD_RETRY_AT, RS_PB_LEN):
		__sync_fetch_and_add(&c->spilled, 1);
		break;
	case RS_PB_TAG(RS_REPLY_FIELD_CANCELED, RS_PB_VARINT):
		__sync_fetch_and_add(&c->cancelled, 1);
		break;
	case RS_PB_TAG(RS_REPLY_FIELD_REJECTED, RS_PB_VARINT):
		__sync_fetch_and_add(&c->rejected, 1);
		break;
	default:
		__sync_fetch_and_add(&c->other, 1);
	}
}

SEC("uretprobe")
int lease_outcome_ret(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u64 *bb = bpf_map_lookup_elem(&rs_reply_out, &id);
	struct rs_lease_counts *c;
	u8 first_tag;

	if (!bb)
		return 0;
	first_tag = first_wire_byte(*bb);
	bpf_map_delete_elem(&rs_reply_out, &id);
	c = counts_of(id >> 32);
	if (c)
		count_outcome(c, first_tag);
	return 0;
}

/* ---- opt-in phase probes, keyed by internal::Work* ---------------------- */

/* ClusterLeaseManager::ScheduleOnNode(this, const NodeID&, const shared_ptr<Work>&) */
SEC("uprobe")
int BPF_KPROBE(lease_schedule, void *self, void *node_id, void *work_sptr)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 work = deref_sptr(work_sptr);
	struct rs_lease_counts *c = counts_of(current_tgid());

	if (c)
		__sync_fetch_and_add(&c->scheduled, 1);
	bpf_map_update_elem(&rs_sched_tid, &tid, &work, BPF_ANY);
	return 0;
}

/* LocalLeaseManager::QueueAndScheduleLease(this, shared_ptr<Work>) -- the
 * by-value shared_ptr arrives as a pointer to the caller's copy. */
SEC("uprobe")
int BPF_KPROBE(lease_local_q, void *self, void *work_sptr)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct rs_call_key key = { .tgid = current_tgid(), .call = deref_sptr(work_sptr) };
	struct rs_work_times t = { .queued_ns = bpf_ktime_get_ns() };
	struct rs_lease_counts *c = counts_of(key.tgid);
	u64 *sched_work = bpf_map_lookup_elem(&rs_sched_tid, &tid);

	/* Queued locally by the ScheduleOnNode this thread is inside. */
	if (sched_work && *sched_work == key.call) {
		if (c)
			__sync_fetch_and_add(&c->sched_local, 1);
		bpf_map_delete_elem(&rs_sched_tid, &tid);
	}
	bpf_map_update_elem(&rs_lease_work, &key, &t, BPF_ANY);
	return 0;
}

/* WorkerPool::PopWorker(this, const LeaseSpecification&, const cb&): the
 * spec is the first member of the lease, itself the first member of Work,
 * so its address is the Work*. A miss is counted, never guessed. */
SEC("uprobe")
int BPF_KPROBE(lease_pop, void *self, void *spec)
{
	struct rs_call_key key = { .tgid = current_tgid(), .call = (u64)spec };
	struct rs_work_times *t = bpf_map_lookup_elem(&rs_lease_work, &key);
	struct rs_lease_counts *c;
	u64 now = bpf_ktime_get_ns();

	if (!t) {
		c = counts_of(key.tgid);
		if (c)
			__sync_fetch_and_add(&c->phase_miss, 1);
		return 0;
	}
	t->pop_ns = now;
	hist_add(key.tgid, RS_PH_QUEUED, now - t->queued_ns);
	return 0;
}

/* LocalLeaseManager::PoppedWorkerHandler(this, worker&, status, const LeaseID&,
 * int, const shared_ptr<Work>& (6th arg), ...) */
SEC("uprobe")
int lease_popped(struct pt_regs *ctx)
{
	void *work_sptr = (void *)RS_PT_REGS_PARM6(ctx);
	struct rs_call_key key = { .tgid = current_tgid(), .call = deref_sptr(work_sptr) };
	struct rs_work_times *t = bpf_map_lookup_elem(&rs_lease_work, &key);
	struct rs_lease_counts *c = counts_of(key.tgid);

	if (c)
		__sync_fetch_and_add(&c->popped, 1);
	if (t && t->pop_ns)
		hist_add(key.tgid, RS_PH_WORKER_WAIT, bpf_ktime_get_ns() - t->pop_ns);
	else if (c)
		__sync_fetch_and_add(&c->phase_miss, 1);
	return 0;
}

/* LocalLeaseManager::Grant(this, worker&, map&, alloc&, const RayLease& (5th),
 * replies&): &work->lease_ == Work*. */
SEC("uprobe")
int BPF_KPROBE(lease_grant, void *self, void *worker, void *map, void *alloc, void *lease)
{
	struct rs_call_key key = { .tgid = current_tgid(), .call = (u64)lease };
	struct rs_work_times *t = bpf_map_lookup_elem(&rs_lease_work, &key);
	struct rs_lease_counts *c = counts_of(key.tgid);

	if (c)
		__sync_fetch_and_add(&c->grants, 1);
	if (!t) {
		if (c)
			__sync_fetch_and_add(&c->phase_miss, 1);
		return 0;
	}
	hist_add(key.tgid, RS_PH_TO_GRANT, bpf_ktime_get_ns() - t->queued_ns);
	bpf_map_delete_elem(&rs_lease_work, &key);
	return 0;
}

/* ---- raylet exec / exit ------------------------------------------------ */

static __always_inline void emit(u32 type, u32 pid)
{
	struct rs_raylet_event *e = bpf_ringbuf_reserve(&rs_raylet_ev, sizeof(*e), 0);

	if (!e)
		return;
	e->type = type;
	e->pid = pid;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp/sched/sched_process_exec")
int raylet_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	char comm[TASK_COMM_LEN];
	static const char want[] = RS_RAYLET_COMM;

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < sizeof(want); i++)
		if (comm[i] != want[i])
			return 0;
	emit(RS_RAYLET_EXEC, current_tgid());
	return 0;
}

SEC("tp/sched/sched_process_exit")
int raylet_exit(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32;

	if ((u32)id != tgid)  /* a thread, not the process */
		return 0;
	if (!bpf_map_lookup_elem(&rs_raylets, &tgid))
		return 0;
	emit(RS_RAYLET_EXIT, tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
