/* raylet.h -- types shared by bpf/raylet.bpf.c, bpf/runqlat.bpf.c and the
 * agent's raylet family (userspace/agent/raylet.c, runq.c).
 *
 * Every map value here is read back by collect() from the pinned maps, so a
 * change of layout changes the map's value_size and makes the agent replace
 * the old pins (see bpf_pin.c). Keep the structs free of implicit padding. */
#ifndef RAYSENSE_RAYLET_H
#define RAYSENSE_RAYLET_H

#define RS_RAYLET_COMM "raylet"     /* comm of the raylet after exec */
#define RS_MAX_RAYLETS 64           /* raylets tracked on one host */
#define RS_NODE_ID_LEN 64           /* Ray node id, hex (56 chars) + NUL */
#define RS_MAX_INFLIGHT 16384       /* lease RPCs / leases in flight */

/* Names of the maps, as pinned under the agent's pin dir (the BPF objects
 * declare them with these identifiers). */
#define RS_RL_MAP_RAYLETS "rs_raylets"
#define RS_RL_MAP_META "rs_raylet_meta"
#define RS_RL_MAP_LEASE_HIST "rs_lease_hist"
#define RS_RL_MAP_LEASE_CNT "rs_lease_cnt"
#define RS_RL_MAP_RUNQ_HIST "rs_runq_hist"

/* Value of rs_raylets (key: raylet tgid). Written by userspace discovery;
 * read by the BPF filters (presence only) and by collect(). */
struct rs_raylet_info {
	unsigned int pid;
	unsigned int attached;        /* bitmask of enum rs_lease_probe set up (attached
				       * whenever a --lease-probes window is open) */
	unsigned int missing;         /* bitmask of wanted probes not attached */
	unsigned int metrics_port;    /* --metrics_export_port, 0 if unknown */
	unsigned long long start_ticks; /* /proc/PID/stat starttime (pid reuse) */
	char node_id[RS_NODE_ID_LEN]; /* --node_id=..., "" if unknown */
	/* --node_manager_port, 0 if unknown: tells raylets apart when they
	 * have no node id (Ray before ~2.30 passed no --node_id). */
	unsigned int node_manager_port;
	/* The part of `missing` whose symbol the raylet binary lacks (the
	 * rest failed to attach). */
	unsigned int unresolved;
	/* Lease sampling (--lease-probes, userspace/agent/lease_window.h):
	 * whether the request probe is attached right now, and for how long it
	 * has been attached out of how long this raylet has been tracked (the
	 * attach fraction the exporters show next to the lease counts). */
	unsigned int window_open;
	unsigned int reserved;        /* explicit padding, always 0 */
	unsigned long long attached_ns;
	unsigned long long tracked_ns;
};

/* The uprobes of the lease family. Attached by default: the request/reply
 * pair, the failed reply (rare), and the outcome pair (entry + return of
 * gRPC's serializer of the reply): 4 hits per lease (only inside the windows
 * of --lease-probes=duty, userspace/agent/lease_window.h). RS_LP_PHASES_MASK are
 * opt-in (--lease-phases): they fire once or more per lease and each uprobe
 * hit costs ~19 us on this VM (bench/bpf_overhead/run.py). */
enum rs_lease_probe {
	RS_LP_REQUEST = 0,   /* ServerCallImpl<..RequestWorkerLease..>::HandleRequest */
	RS_LP_REPLY_SENT,    /* ...::OnReplySent */
	RS_LP_REPLY_FAILED,  /* ...::OnReplyFailed */
	RS_LP_OUTCOME,       /* grpc::GenericSerialize<.., RequestWorkerLeaseReply> (entry) */
	RS_LP_OUTCOME_RET,   /* ... (return: the reply's wire bytes are in memory) */
	RS_LP_SCHEDULE,      /* ClusterLeaseManager::ScheduleOnNode (phase) */
	RS_LP_LOCAL_QUEUE,   /* LocalLeaseManager::QueueAndScheduleLease (phase) */
	RS_LP_POP_WORKER,    /* WorkerPool::PopWorker(spec, cb) (phase) */
	RS_LP_POPPED,        /* LocalLeaseManager::PoppedWorkerHandler (phase) */
	RS_LP_GRANT,         /* LocalLeaseManager::Grant / LocalTaskManager::Dispatch (phase) */
	RS_LP_COUNT,
};
#define RS_LP_REQUIRED_MASK ((1u << RS_LP_REQUEST) | (1u << RS_LP_REPLY_SENT))
#define RS_LP_OUTCOME_MASK ((1u << RS_LP_OUTCOME) | (1u << RS_LP_OUTCOME_RET))
#define RS_LP_PHASES_MASK ((1u << RS_LP_SCHEDULE) | (1u << RS_LP_LOCAL_QUEUE) | \
			   (1u << RS_LP_POP_WORKER) | (1u << RS_LP_POPPED) | \
			   (1u << RS_LP_GRANT))

/* Histograms of rs_lease_hist, key {tgid, phase}. */
enum rs_lease_phase {
	RS_PH_RPC = 0,       /* HandleRequest -> OnReplySent: the lease RPC */
	RS_PH_QUEUED,        /* local QueueAndScheduleLease -> PopWorker */
	RS_PH_WORKER_WAIT,   /* PopWorker -> PoppedWorkerHandler */
	RS_PH_TO_GRANT,      /* local QueueAndScheduleLease -> Grant */
	RS_PH_COUNT,
};

struct rs_lease_hkey {
	unsigned int tgid;
	unsigned int phase;
};

/* Outcome of a lease, read from the wire bytes of the RequestWorkerLeaseReply
 * the raylet sends: proto3 writes set fields in field-number order and omits
 * unset ones, so the first tag says what the reply is. Field numbers are the
 * wire contract of ray.rpc.RequestWorkerLeaseReply (node_manager.proto;
 * tests/bpf check them against the pinned wheel's descriptor). */
#define RS_REPLY_FIELD_WORKER_ADDRESS 1   /* Address: a worker was granted */
#define RS_REPLY_FIELD_RETRY_AT 2         /* Address: spilled back to that raylet */
#define RS_REPLY_FIELD_CANCELED 4         /* bool */
#define RS_REPLY_FIELD_REJECTED 7         /* bool (grant_or_reject request) */
#define RS_PB_TAG(field, wire_type) (((field) << 3) | (wire_type))
#define RS_PB_VARINT 0
#define RS_PB_LEN 2

/* Where the wire bytes are, after grpc::GenericSerialize filled a
 * grpc::ByteBuffer (whose one member is a grpc_byte_buffer *): offsets in
 * gRPC's public C structs, LP64 (grpc/impl/grpc_types.h grpc_byte_buffer,
 * grpc/impl/slice_type.h grpc_slice_buffer and grpc_slice). Checked in the
 * Ray 2.60.0 raylet's machine code (docs/raylet-symbols.md). */
#define RS_GRPC_BB_SLICES 0x20          /* data.raw.slice_buffer.slices */
#define RS_GRPC_BB_COUNT 0x28           /* data.raw.slice_buffer.count */
#define RS_GRPC_SLICE_BYTES 0x10        /* data.refcounted.bytes (refcount != NULL) */
#define RS_GRPC_SLICE_INLINED_LEN 0x8   /* data.inlined.length (refcount == NULL) */
#define RS_GRPC_SLICE_INLINED_BYTES 0x9 /* data.inlined.bytes */

/* Value of rs_lease_cnt (key: raylet tgid). Counters only grow. */
struct rs_lease_counts {
	unsigned long long requests;      /* HandleRequest hits */
	unsigned long long replied;       /* OnReplySent matched to a request */
	unsigned long long failed;        /* OnReplyFailed matched to a request */
	unsigned long long unmatched;     /* reply without a recorded request */
	unsigned long long granted;       /* reply: worker_address set */
	unsigned long long spilled;       /* reply: retry_at_raylet_address set */
	unsigned long long rejected;      /* reply: rejected = true */
	unsigned long long cancelled;     /* reply: canceled = true */
	unsigned long long other;         /* reply: none of these (or empty) */
	/* Phase-probe call counts. Not exported (the outcomes above come from
	 * the reply itself); kept as an independent cross-check of the reply
	 * decoding that tests/bpf read from the pinned map (granted == grants
	 * on a worker raylet; spilled + rejected >= scheduled - sched_local). */
	unsigned long long scheduled;     /* ScheduleOnNode calls */
	unsigned long long sched_local;   /* ... that queued locally */
	unsigned long long grants;        /* Grant calls */
	unsigned long long popped;        /* PoppedWorkerHandler calls */
	unsigned long long phase_miss;    /* phase probe found no matching lease */
	unsigned long long dropped;       /* in-flight map full */
};

/* Key of rs_lease_start: one lease RPC (ServerCallImpl object) of a raylet. */
struct rs_call_key {
	unsigned int tgid;
	unsigned int pad;
	unsigned long long call;
};

/* Value of rs_lease_work: phase timestamps of one lease (internal::Work). */
struct rs_work_times {
	unsigned long long queued_ns;
	unsigned long long pop_ns;
};

/* Ring-buffer events from the exec/exit tracepoints. */
enum rs_raylet_event_type {
	RS_RAYLET_EXEC = 1,
	RS_RAYLET_EXIT = 2,
};

struct rs_raylet_event {
	unsigned int type;
	unsigned int pid;
};

#endif
