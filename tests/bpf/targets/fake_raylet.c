/* fake_raylet.c -- a controlled-delay stand-in for the raylet, for the BPF
 * tests in tests/bpf/. It is built as an executable named `raylet` (so its
 * comm is "raylet", as the agent's discovery expects) and defines functions
 * under the exact mangled names of the Ray 2.60.0 raylet's lease probe
 * points (see docs/raylet-symbols.md), with the same argument shapes. Between
 * the probe points it sleeps a known time, so the agent's histograms can be
 * checked against the injected delays.
 *
 * Built twice: the -DOMIT_REPLY_SENT variant lacks OnReplySent, for the
 * missing-symbol test.
 *
 * Usage: raylet --node_id=HEX [--leases N] [--delay-us D] [--phases]
 *               [--for-ms MS [--for-delay-us D]]
 *               [--reply N:HEX]... [--runq-rounds N --runq-spin-ms MS --cpu C]
 * --reply N:HEX runs N more leases whose reply serializes to the bytes HEX.
 * --for-ms MS (bench/bpf_overhead): instead, zero-delay leases (replying the
 * first --reply's bytes, if any) until MS ms have passed, so the loop spans
 * whole --lease-probes=duty periods; "done" then also prints the count.
 * --for-delay-us D gives those leases D us each instead (a steady stream
 * whose rate hardly depends on whether the probes are attached).
 * It prints "ready <pid>", waits for a line "go" on stdin, runs the
 * workload, prints "done <ns spent in the lease loops>", then waits for stdin EOF before exiting. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, used))
#define BARRIER() __asm__ volatile("" ::: "memory")

/* Shapes of Ray's objects, reduced to what the probes read: the lease is the
 * first member of internal::Work, and a shared_ptr starts with its element. */
struct lease { char spec[64]; };
struct work { struct lease lease; int state; };
struct shared_ptr { void *elem; void *ctrl; };
struct server_call { char pad[128]; };

#define SC "_ZN3ray3rpc14ServerCallImplINS0_25NodeManagerServiceHandlerENS0_25RequestWorkerLeaseRequestENS0_23RequestWorkerLeaseReplyELNS0_17ClusterIdAuthTypeE0ELb0EE"

NOINLINE void handle_request(struct server_call *self) __asm__(SC "13HandleRequestEv");
NOINLINE void handle_request(struct server_call *self) { BARRIER(); (void)self; }

#ifndef OMIT_REPLY_SENT
NOINLINE void on_reply_sent(struct server_call *self) __asm__(SC "11OnReplySentEv");
NOINLINE void on_reply_sent(struct server_call *self) { BARRIER(); (void)self; }
#else
/* Same job under a name the agent does not look for. */
NOINLINE void on_reply_sent(struct server_call *self) { BARRIER(); (void)self; }
#endif

NOINLINE void on_reply_failed(struct server_call *self) __asm__(SC "13OnReplyFailedEv");
NOINLINE void on_reply_failed(struct server_call *self) { BARRIER(); (void)self; }

/* The reply's wire bytes come from the test, which builds them with the
 * pinned Ray's own generated node_manager_pb2. gRPC's serializer puts them in
 * a grpc::ByteBuffer; the structs below have the layout of gRPC's public C
 * structs (grpc_byte_buffer, grpc_slice_buffer, grpc_slice) on x86-64. Like
 * gRPC, replies up to 23 bytes go in an inlined slice, longer ones in a
 * refcounted slice. */
struct reply { const unsigned char *bytes; size_t len; };
struct grpc_slice {
	void *refcount;
	union {
		struct { size_t length; unsigned char *bytes; } refcounted;
		struct { unsigned char length; unsigned char bytes[23]; } inlined;
	} data;
};
struct grpc_byte_buffer {
	void *reserved;
	int type;
	union {
		struct { void *reserved[8]; } reserved;
		struct {
			int compression;
			struct {
				struct grpc_slice *base_slices, *slices;
				size_t count, length;
			} slice_buffer;
		} raw;
	} data;
};
struct byte_buffer { struct grpc_byte_buffer *buffer; };   /* grpc::ByteBuffer */
_Static_assert(__builtin_offsetof(struct grpc_byte_buffer, data.raw.slice_buffer.slices) == 0x20 &&
	       __builtin_offsetof(struct grpc_byte_buffer, data.raw.slice_buffer.count) == 0x28,
	       "grpc_byte_buffer layout (include/raysense/raylet.h RS_GRPC_BB_*)");

/* grpc::Status GenericSerialize<ProtoBufferWriter, RequestWorkerLeaseReply>(
 * const MessageLite&, ByteBuffer*, bool*): the Status comes back through a
 * hidden pointer, which x86-64 passes first (as here). */
NOINLINE void generic_serialize(void *status, const struct reply *msg, struct byte_buffer *bb, bool *own)
	__asm__("_ZN4grpc16GenericSerializeINS_17ProtoBufferWriterEN3ray3rpc23RequestWorkerLeaseReplyEEENS_6StatusERKN6google8protobuf11MessageLiteEPNS_10ByteBufferEPb");
NOINLINE void generic_serialize(void *status, const struct reply *msg, struct byte_buffer *bb, bool *own)
{
	static struct grpc_byte_buffer raw;
	static struct grpc_slice slice;
	static unsigned char heap[256];
	static int refcount;

	BARRIER();
	(void)status;
	memset(&raw, 0, sizeof(raw));
	memset(&slice, 0, sizeof(slice));
	if (msg->len <= sizeof(slice.data.inlined.bytes)) {
		slice.data.inlined.length = (unsigned char)msg->len;
		memcpy(slice.data.inlined.bytes, msg->bytes, msg->len);
	} else {
		slice.refcount = &refcount;
		slice.data.refcounted.length = msg->len;
		slice.data.refcounted.bytes = heap;
		memcpy(heap, msg->bytes, msg->len);
	}
	raw.data.raw.slice_buffer.base_slices = raw.data.raw.slice_buffer.slices = &slice;
	raw.data.raw.slice_buffer.count = msg->len ? 1 : 0;
	raw.data.raw.slice_buffer.length = msg->len;
	bb->buffer = &raw;
	*own = true;
}

NOINLINE void local_queue(void *self, struct shared_ptr *w)
	__asm__("_ZN3ray6raylet17LocalLeaseManager21QueueAndScheduleLeaseESt10shared_ptrINS0_8internal4WorkEE");

NOINLINE void schedule_on_node(void *self, const void *node, const struct shared_ptr *w)
	__asm__("_ZN3ray6raylet19ClusterLeaseManager14ScheduleOnNodeERKNS_6NodeIDERKSt10shared_ptrINS0_8internal4WorkEE");
NOINLINE void schedule_on_node(void *self, const void *node, const struct shared_ptr *w)
{
	struct shared_ptr copy = *w;   /* by-value argument: a caller temporary */

	BARRIER();
	if (node == NULL)               /* NULL node = this node: queue locally */
		local_queue(self, &copy);
}

NOINLINE void local_queue(void *self, struct shared_ptr *w) { BARRIER(); (void)self; (void)w; }

NOINLINE void pop_worker(void *self, const struct lease *spec, const void *cb)
	__asm__("_ZN3ray6raylet10WorkerPool9PopWorkerERKNS_18LeaseSpecificationERKSt8functionIFbRKSt10shared_ptrINS0_15WorkerInterfaceEENS0_15PopWorkerStatusERKSsEE");
NOINLINE void pop_worker(void *self, const struct lease *spec, const void *cb)
{ BARRIER(); (void)self; (void)spec; (void)cb; }

NOINLINE int popped_worker_handler(void *self, const void *worker, int status, const void *lease_id,
				   int sched_class, const struct shared_ptr *w, int detached,
				   const void *owner, const void *msg)
	__asm__("_ZN3ray6raylet17LocalLeaseManager19PoppedWorkerHandlerERKSt10shared_ptrINS0_15WorkerInterfaceEENS0_15PopWorkerStatusERKNS_7LeaseIDEiRKS2_INS0_8internal4WorkEEbRKNS_3rpc7AddressERKSs");
NOINLINE int popped_worker_handler(void *self, const void *worker, int status, const void *lease_id,
				   int sched_class, const struct shared_ptr *w, int detached,
				   const void *owner, const void *msg)
{
	BARRIER();
	(void)self; (void)worker; (void)lease_id; (void)sched_class; (void)w;
	(void)detached; (void)owner; (void)msg;
	return status == 0;
}

NOINLINE void grant(void *self, const void *worker, void *map, const void *alloc,
		    const struct lease *lease, const void *replies)
	__asm__("_ZN3ray6raylet17LocalLeaseManager5GrantERKSt10shared_ptrINS0_15WorkerInterfaceEERN4absl12lts_2023080213flat_hash_mapINS_7LeaseIDES4_NS8_13hash_internal4HashISA_EESt8equal_toISA_ESaISt4pairIKSA_S4_EEEERKS2_INS_21TaskResourceInstancesEERKNS_8RayLeaseERKSt6vectorINS0_8internal13ReplyCallbackESaISV_EE");
NOINLINE void grant(void *self, const void *worker, void *map, const void *alloc,
		    const struct lease *lease, const void *replies)
{ BARRIER(); (void)self; (void)worker; (void)map; (void)alloc; (void)lease; (void)replies; }

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* One lease RPC: request, (phases: queue -> pop -> popped -> grant), reply.
 * With phases the delay is split: delay/4 queued, delay/2 waiting for a
 * worker, the rest before the reply. */
static void one_lease(struct server_call *call, long delay_us, int phases,
		      const struct reply *reply)
{
	struct work *w = calloc(1, sizeof(*w));
	struct shared_ptr sp = { w, NULL };
	char self[8], worker[8], map[8], alloc[8], lease_id[32], replies[8];

	handle_request(call);
	if (phases) {
		schedule_on_node(self, NULL, &sp);
		sleep_us(delay_us / 4);
		pop_worker(self, &w->lease, NULL);
		sleep_us(delay_us / 2);
		popped_worker_handler(self, worker, 0, lease_id, 0, &sp, 0, NULL, NULL);
		grant(self, worker, map, alloc, &w->lease, replies);
		sleep_us(delay_us - delay_us / 4 - delay_us / 2);
	} else {
		sleep_us(delay_us);
	}
	if (reply) {
		struct byte_buffer bb = { NULL };
		char status[32];
		bool own;

		generic_serialize(status, reply, &bb, &own);
	}
	on_reply_sent(call);
	free(w);
}

#define MAX_REPLIES 8

struct reply_run { long count; struct reply reply; unsigned char bytes[128]; };

/* "N:HEX" -> run; 0 or -1 on a malformed argument. */
static int parse_reply_run(const char *arg, struct reply_run *run)
{
	char *hex;

	run->count = strtol(arg, &hex, 10);
	if (*hex != ':' || run->count < 0)
		return -1;
	hex++;
	run->reply.len = 0;
	while (hex[0] && hex[1] && run->reply.len < sizeof(run->bytes)) {
		unsigned int byte;

		if (sscanf(hex, "%2x", &byte) != 1)
			return -1;
		run->bytes[run->reply.len++] = (unsigned char)byte;
		hex += 2;
	}
	run->reply.bytes = run->bytes;
	return *hex ? -1 : 0;
}

/* Keep this (tracked) thread runnable but off-CPU for spin_ms per round: a
 * higher-priority SCHED_FIFO child (its own tgid, so untracked) on the same
 * CPU spins for spin_ms right after we wake it, preempting us while we are
 * runnable. */
static int runq_rounds(int rounds, int spin_ms, int cpu)
{
	cpu_set_t set;
	int go[2];
	pid_t child;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) || pipe(go))
		return -1;
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		struct sched_param sp = { .sched_priority = 10 };
		char c;

		close(go[1]);
		if (sched_setscheduler(0, SCHED_FIFO, &sp))
			_exit(3);
		while (read(go[0], &c, 1) == 1) {
			struct timespec t0, t;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			do
				clock_gettime(CLOCK_MONOTONIC, &t);
			while ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L < spin_ms);
		}
		_exit(0);
	}
	close(go[0]);
	/* We are SCHED_FIFO too, one priority below the spinner: between RT
	 * tasks only priority decides, so nothing (not the kernel's fair-server
	 * reservation for CFS tasks, 6.12+) lets us run during a spin. */
	{
		struct sched_param low = { .sched_priority = 5 };

		if (sched_setscheduler(0, SCHED_FIFO, &low))
			return -1;
	}
	sleep_us(100000);   /* let the child become SCHED_FIFO */
	for (int i = 0; i < rounds; i++) {
		if (write(go[1], "g", 1) != 1)
			return -1;
		sleep_us(50000);   /* back on CPU after the spin; then rest */
	}
	close(go[1]);
	waitpid(child, NULL, 0);
	{
		struct sched_param normal = { .sched_priority = 0 };

		sched_setscheduler(0, SCHED_OTHER, &normal);
	}
	return 0;
}

int main(int argc, char **argv)
{
	long leases = 0, delay_us = 10000, for_ms = 0, for_delay_us = 0, done_leases = 0;
	static struct reply_run runs[MAX_REPLIES];
	int nruns = 0;
	int phases = 0, rounds = 0, spin_ms = 50, cpu = 0;
	static struct server_call calls[4];
	struct timespec t0, t1;
	char line[64];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--leases") && i + 1 < argc)
			leases = atol(argv[++i]);
		else if (!strcmp(a, "--delay-us") && i + 1 < argc)
			delay_us = atol(argv[++i]);
		else if (!strcmp(a, "--reply") && i + 1 < argc && nruns < MAX_REPLIES) {
			if (parse_reply_run(argv[++i], &runs[nruns++])) {
				fprintf(stderr, "bad --reply %s (want N:HEX)\n", argv[i]);
				return 2;
			}
		}
		else if (!strcmp(a, "--for-ms") && i + 1 < argc)
			for_ms = atol(argv[++i]);
		else if (!strcmp(a, "--for-delay-us") && i + 1 < argc)
			for_delay_us = atol(argv[++i]);
		else if (!strcmp(a, "--phases"))
			phases = 1;
		else if (!strcmp(a, "--runq-rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(a, "--runq-spin-ms") && i + 1 < argc)
			spin_ms = atoi(argv[++i]);
		else if (!strcmp(a, "--cpu") && i + 1 < argc)
			cpu = atoi(argv[++i]);
		/* anything else (--node_id=, --metrics_export_port=) is for the agent */
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	if (!fgets(line, sizeof(line), stdin) || strncmp(line, "go", 2))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (for_ms > 0) {
		one_lease(&calls[done_leases % 4], for_delay_us, 0, nruns ? &runs[0].reply : NULL);
		done_leases++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L >= for_ms) {
			printf("done %lld %ld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
			       (t1.tv_nsec - t0.tv_nsec), done_leases);
			while (fgets(line, sizeof(line), stdin))
				;
			return 0;
		}
	}
	for (long i = 0; i < leases; i++)
		one_lease(&calls[i % 4], delay_us, phases, NULL);
	for (int r = 0; r < nruns; r++)
		for (long i = 0; i < runs[r].count; i++)
			one_lease(&calls[i % 4], 0, 0, &runs[r].reply);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rounds && runq_rounds(rounds, spin_ms, cpu)) {
		perror("runq");
		return 1;
	}
	/* Wall time of the lease loop: bench/bpf_overhead compares it with and
	 * without the lease uprobes to get the cost of a uprobe hit. */
	printf("done %lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
