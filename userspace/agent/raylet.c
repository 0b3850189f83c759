/* raylet.c -- the "raylet" probe family: finds raylets, attaches the lease
 * uprobes (bpf/raylet.bpf.c) to each, and owns the run-queue latency probes
 * (runq.c) whose tgid filter is the set of raylets found here.
 *
 * Discovery: a /proc scan at attach, then the sched_process_exec tracepoint
 * (comm "raylet") through a ring buffer; exits come from sched_process_exit
 * and, as a safety net, from a start-time check in every poll (a pid reused
 * by a new raylet has a different start time). Uprobes are attached per
 * raylet pid on /proc/PID/exe + file offset, so several raylets from the same
 * binary are kept apart by the kernel's pid filter, and raylets inside other
 * mount namespaces (pods) resolve too. Series of an exited raylet stay for
 * RS_GONE_GRACE_S so the last scrape sees their final values.
 *
 * Lease sampling (--lease-probes, lease_window.h): in the duty mode every
 * poll opens or closes each raylet's window. Opening attaches the reply side
 * first and the request probe after it, so a lease already in flight is at
 * most a reply_unmatched event (and, when its reply is serialized after the
 * outcome pair attached, one outcome); closing detaches the request probe first and
 * keeps the reply side until the leases that started inside the window have
 * replied (or RS_DRAIN_MAX_NS passed), so those are counted whole; the
 * drain is checked again a few ms after the close (quick_drain), since most
 * leases reply within one. Those detaches run in threads of their own
 * (detach_async), which the poll waits for: they are slow. The time the
 * request probe was attached, out of the time tracked, is written to the
 * raylet's rs_raylet_info for the exporters (the attach fraction and the
 * seconds sampled). */
#include "agent/raylet.h"
#include "agent/bpf_pin.h"
#include "agent/raylet_proc.h"
#include "agent/raylet_symbols.h"
#include "agent/runq.h"
#include "common/log.h"

#include "raylet.skel.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RS_GONE_GRACE_S 300
#define SYM_CACHE_SIZE 4
/* Longest a closed window keeps its reply probes for leases still in flight. */
#define RS_DRAIN_MAX_NS 1000000000ull
/* Right after closing windows, look again this many times (1, 2, 4, 8 ms
 * apart, 15 ms in all per poll whatever the number of raylets): most leases
 * in flight at the close reply within a millisecond (the head's median is
 * ~0.4 ms), and until they do the reply side's three probes fire on every
 * new lease too (docs/raylet-measures.md, "Probe cost"). */
#define RS_QUICK_DRAIN_ROUNDS 4

/* Lease probes of --lease-probes=rpc: the RPC pair and the failed reply;
 * the other modes add the outcome pair on the reply's serializer. */
#define RPC_PROBES (RS_LP_REQUIRED_MASK | (1u << RS_LP_REPLY_FAILED))

/* Order in which a window attaches the probes: reply side before request
 * (see the header comment); the outcome's return before its entry. */
static const enum rs_lease_probe open_order[RS_LP_COUNT] = {
	RS_LP_REPLY_SENT, RS_LP_REPLY_FAILED, RS_LP_POPPED, RS_LP_GRANT, RS_LP_POP_WORKER,
	RS_LP_LOCAL_QUEUE, RS_LP_SCHEDULE, RS_LP_OUTCOME_RET, RS_LP_OUTCOME, RS_LP_REQUEST,
};

static const char *const lease_pinned_maps[] = {
	RS_RL_MAP_RAYLETS, RS_RL_MAP_META, RS_RL_MAP_LEASE_HIST, RS_RL_MAP_LEASE_CNT, NULL,
};

struct tracked {
	pid_t pid;                      /* 0 = free slot */
	unsigned long long start_ticks;
	bool live;
	time_t gone_at;
	struct bpf_link *links[RS_LP_COUNT];
	struct rs_lease_syms syms;      /* where the probes go (a copy: the cache rotates) */
	struct rs_raylet_info info;     /* as last written to the maps */
	bool draining;                  /* window closed, reply side still attached */
	unsigned long long drain_since_ns, last_ns;   /* CLOCK_MONOTONIC */
	unsigned long long open_unanswered;  /* requests - replies when the window opened */
};

struct sym_cache_entry {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	struct rs_lease_syms syms;
	bool used;
};

struct raylet_state {
	atomic_int reaping;             /* links being destroyed by reap threads */
	char pin_dir[PATH_MAX];
	char path_filter[PATH_MAX];     /* "" = any raylet */
	unsigned int wanted;            /* probes to attach */
	struct rs_lease_mode mode;
	struct raylet_bpf *skel;
	struct runqlat_bpf *runq;       /* NULL if run-queue probes failed */
	struct ring_buffer *events;
	struct bpf_link *exec_link, *exit_link;
	struct tracked raylets[RS_MAX_RAYLETS];
	struct sym_cache_entry sym_cache[SYM_CACHE_SIZE];
	int sym_cache_next;
};

/* ---- symbols ----------------------------------------------------------- */

/* Resolve through a tiny cache keyed by the binary's inode: every raylet of
 * a host usually runs the same 35 MB binary. */
static int resolve_syms(struct raylet_state *s, pid_t pid, const struct rs_lease_syms **out)
{
	char path[64];
	struct stat st;
	struct sym_cache_entry *e;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st))
		return -errno;
	for (int i = 0; i < SYM_CACHE_SIZE; i++) {
		e = &s->sym_cache[i];
		if (e->used && e->dev == st.st_dev && e->ino == st.st_ino &&
		    e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
			*out = &e->syms;
			return 0;
		}
	}
	e = &s->sym_cache[s->sym_cache_next];
	s->sym_cache_next = (s->sym_cache_next + 1) % SYM_CACHE_SIZE;
	e->used = false;
	err = rs_lease_syms_resolve(path, &e->syms);
	if (err)
		return err;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->mtime = st.st_mtim;
	e->used = true;
	*out = &e->syms;
	return 0;
}

/* ---- tracking ---------------------------------------------------------- */

/* --raylet-path: an exact binary path, or a directory prefix ending in '/'. */
static bool path_allowed(const struct raylet_state *s, const char *exe)
{
	size_t n = strlen(s->path_filter);

	if (n == 0)
		return true;
	if (s->path_filter[n - 1] == '/')
		return strncmp(exe, s->path_filter, n) == 0;
	return strcmp(exe, s->path_filter) == 0;
}

static struct tracked *find_tracked(struct raylet_state *s, pid_t pid)
{
	for (int i = 0; i < RS_MAX_RAYLETS; i++)
		if (s->raylets[i].pid == pid)
			return &s->raylets[i];
	return NULL;
}

static struct tracked *free_slot(struct raylet_state *s)
{
	struct tracked *oldest = NULL;

	for (int i = 0; i < RS_MAX_RAYLETS; i++) {
		struct tracked *t = &s->raylets[i];

		if (!t->pid)
			return t;
		if (!t->live && (!oldest || t->gone_at < oldest->gone_at))
			oldest = t;
	}
	return oldest;   /* reuse the longest-gone slot when full */
}

static void detach_links(struct tracked *t)
{
	for (int p = 0; p < RS_LP_COUNT; p++) {
		bpf_link__destroy(t->links[p]);
		t->links[p] = NULL;
	}
}

/* ---- detaching a window's links off the poll thread ------------------- */

/* Destroying a uprobe link is slow: 80-110 ms each on a fake raylet here,
 * and the ten links of two real Ray 2.60 raylets took ~4.5 s together
 * (docs/raylet-measures.md, "Probe cost"). The windows' detaches run in
 * short-lived threads of their own, so the links of one close go together;
 * the poll waits for them at its end (raylet_poll), because an attach of
 * the same probes behind a detach still in flight waited 2.3 s. Untracking
 * and shutdown detach synchronously (detach_links), after reaped(). */
struct reap {
	struct bpf_link *link;
	atomic_int *reaping;
};

static void *reap_link(void *arg)
{
	struct reap *r = arg;

	bpf_link__destroy(r->link);
	atomic_fetch_sub(r->reaping, 1);
	free(r);
	return NULL;
}

static void detach_async(struct raylet_state *s, struct bpf_link **link)
{
	struct reap *r;
	pthread_attr_t attr;
	pthread_t th;
	bool started = false;

	if (!*link)
		return;
	r = malloc(sizeof(*r));
	if (r && !pthread_attr_init(&attr)) {
		r->link = *link;
		r->reaping = &s->reaping;
		atomic_fetch_add(&s->reaping, 1);
		started = !pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) &&
			  !pthread_create(&th, &attr, reap_link, r);
		pthread_attr_destroy(&attr);
		if (!started)
			atomic_fetch_sub(&s->reaping, 1);
	}
	if (!started) {
		free(r);
		bpf_link__destroy(*link);   /* no thread: here, and slow */
	}
	*link = NULL;
}

/* Wait (up to 5 s) until every reap thread has destroyed its link. */
static void reaped(struct raylet_state *s)
{
	struct timespec pause = { 0, 10000000L };

	for (int i = 0; i < 500 && atomic_load(&s->reaping) > 0; i++)
		nanosleep(&pause, NULL);
	if (atomic_load(&s->reaping) > 0)
		rs_warn("%d lease probe link(s) still being detached", atomic_load(&s->reaping));
}

/* Forget every series of pid (its raylet has been gone long enough). */
static void forget_series(struct raylet_state *s, pid_t pid)
{
	__u32 key = pid;
	int fd;

	bpf_map__delete_elem(s->skel->maps.rs_raylet_meta, &key, sizeof(key), 0);
	bpf_map__delete_elem(s->skel->maps.rs_lease_cnt, &key, sizeof(key), 0);
	for (__u32 ph = 0; ph < RS_PH_COUNT; ph++) {
		struct rs_lease_hkey hk = { .tgid = pid, .phase = ph };

		bpf_map__delete_elem(s->skel->maps.rs_lease_hist, &hk, sizeof(hk), 0);
	}
	fd = rs_bpf_open_pinned(s->pin_dir, RS_RL_MAP_RUNQ_HIST);
	if (fd >= 0) {
		bpf_map_delete_elem(fd, &key);
		close(fd);
	}
}

static void untrack(struct raylet_state *s, struct tracked *t, const char *why)
{
	__u32 key = t->pid;

	if (!t->live)
		return;
	detach_links(t);
	bpf_map__delete_elem(s->skel->maps.rs_raylets, &key, sizeof(key), 0);
	t->live = false;
	t->gone_at = time(NULL);
	rs_info("raylet pid %d %s: lease probes detached", (int)t->pid, why);
}

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static unsigned long long unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
}

/* Labels (meta) first, so a series never appears without them; then the
 * live set, which the BPF filters and raysense_raylet_up read. */
static void write_info(struct raylet_state *s, const struct tracked *t)
{
	__u32 key = t->pid;
	int err;

	err = bpf_map__update_elem(s->skel->maps.rs_raylet_meta, &key, sizeof(key), &t->info,
				   sizeof(t->info), BPF_ANY);
	if (!err)
		err = bpf_map__update_elem(s->skel->maps.rs_raylets, &key, sizeof(key), &t->info,
					   sizeof(t->info), BPF_ANY);
	if (err)
		rs_warn("raylet pid %d: cannot update its info maps: %s", (int)t->pid, strerror(-err));
}

/* Lease RPCs of t that have started and not (yet) replied, as counted. */
static unsigned long long unanswered(struct raylet_state *s, const struct tracked *t)
{
	struct rs_lease_counts c;
	__u32 key = t->pid;

	if (bpf_map__lookup_elem(s->skel->maps.rs_lease_cnt, &key, sizeof(key), &c, sizeof(c), 0))
		return 0;
	return c.requests - c.replied - c.failed;
}

/* Remember what was unanswered before this window's requests started
 * counting (leases lost at earlier edges), for the drain at its close. */
static void window_opened(struct raylet_state *s, struct tracked *t)
{
	t->open_unanswered = unanswered(s, t);
}

/* Attach the probes of `want` that are not attached yet, in open_order.
 * Returns the mask of those attached now. */
static unsigned int attach_probes(struct raylet_state *s, struct tracked *t, unsigned int want)
{
	const struct rs_lease_syms *syms = &t->syms;
	char exe[64];
	unsigned int attached = 0;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)t->pid);
	for (int i = 0; i < RS_LP_COUNT; i++) {
		enum rs_lease_probe p = open_order[i];
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = rs_lease_probe_at_return(p));
		struct bpf_program *prog;

		if (t->links[p]) {
			attached |= 1u << p;
			continue;
		}
		if (!(want & syms->found & (1u << p)))
			continue;
		prog = bpf_object__find_program_by_name(s->skel->obj, rs_lease_probe_prog(p));
		if (!prog)
			continue;
		t->links[p] = bpf_program__attach_uprobe_opts(prog, t->pid, exe,
							      syms->offset[p], &opts);
		if (!t->links[p]) {
			rs_warn("raylet pid %d: cannot attach uprobe %s at %#llx: %s", (int)t->pid,
				rs_lease_probe_name(p), (unsigned long long)syms->offset[p],
				strerror(errno));
			continue;
		}
		attached |= 1u << p;
		/* Which era's name matched, e.g. LocalTaskManager8Dispatch vs
		 * LocalLeaseManager5Grant (tests/bpf/test_raylet_task_era.py). */
		if (!t->info.attached)
			rs_debug("raylet pid %d: uprobe %s at %#llx on %s", (int)t->pid,
				 rs_lease_probe_name(p), (unsigned long long)syms->offset[p],
				 syms->name[p]);
	}
	return attached;
}

static void log_missing(pid_t pid, unsigned int missing)
{
	char list[512];

	if (missing & RS_LP_REQUIRED_MASK) {
		rs_lease_probe_list(missing & RS_LP_REQUIRED_MASK, list, sizeof(list));
		rs_error("raylet pid %d: lease latency disabled, symbol(s) not found: %s "
			 "(run-queue latency and the other probes still work)", (int)pid, list);
	}
	if (missing & ~RS_LP_REQUIRED_MASK) {
		rs_lease_probe_list(missing & ~RS_LP_REQUIRED_MASK, list, sizeof(list));
		rs_warn("raylet pid %d: optional lease probe(s) not found: %s", (int)pid, list);
	}
}

static int track(struct raylet_state *s, pid_t pid, const char *how)
{
	struct rs_raylet_proc proc;
	const struct rs_lease_syms *syms = NULL;
	struct rs_raylet_info *info;
	struct tracked *t = find_tracked(s, pid);
	unsigned int want = s->wanted;
	int err;

	err = rs_raylet_proc_read(pid, &proc);
	if (err)
		return err;
	if (t && t->live && t->start_ticks == proc.start_ticks)
		return 0;   /* already tracked */
	if (t && t->live)
		untrack(s, t, "was replaced by a new process with the same pid");
	if (!path_allowed(s, proc.exe)) {
		rs_debug("raylet pid %d (%s) skipped: not %s", (int)pid, proc.exe, s->path_filter);
		return 0;
	}
	if (t)
		forget_series(s, pid);  /* same pid, new raylet: new series */
	else
		t = free_slot(s);
	if (!t) {
		rs_error("raylet pid %d not tracked: already %d raylets", (int)pid, RS_MAX_RAYLETS);
		return -ENOSPC;
	}
	if (t->pid && t->pid != pid)
		forget_series(s, t->pid);
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->start_ticks = proc.start_ticks;
	t->live = true;
	t->last_ns = mono_ns();
	info = &t->info;

	err = resolve_syms(s, pid, &syms);
	if (err)
		rs_error("raylet pid %d: cannot read symbols of %s: %s", (int)pid, proc.exe,
			 strerror(-err));
	info->pid = pid;
	info->start_ticks = proc.start_ticks;
	info->metrics_port = proc.metrics_port;
	info->node_manager_port = proc.node_manager_port;
	snprintf(info->node_id, sizeof(info->node_id), "%s", proc.node_id);
	info->missing = want & ~(syms ? syms->found : 0);
	info->unresolved = info->missing;
	/* The reply probes are useless without the request probe and vice
	 * versa; the outcome's entry and return probes likewise. */
	if (info->missing & RS_LP_REQUIRED_MASK)
		want &= ~RS_LP_REQUIRED_MASK;
	if (info->missing & RS_LP_OUTCOME_MASK)
		want &= ~RS_LP_OUTCOME_MASK;
	log_missing(pid, info->missing);
	/* Attach once now, whatever the window, so that a probe that cannot
	 * attach is reported at discovery; the next poll closes the window if
	 * it is not open. */
	window_opened(s, t);
	if (syms) {
		t->syms = *syms;
		info->attached = attach_probes(s, t, want);
	}
	info->missing |= want & ~info->attached;
	info->window_open = t->links[RS_LP_REQUEST] != NULL;

	/* Labels first, so a series never appears without them. */
	write_info(s, t);
	rs_info("tracking raylet pid %d (%s) node_id=%s node_manager_port=%u metrics_port=%u via %s: "
		"%d lease probe(s) attached%s",
		(int)pid, proc.exe, proc.node_id[0] ? proc.node_id : "?", proc.node_manager_port,
		proc.metrics_port, how,
		__builtin_popcount(info->attached), s->runq ? ", run-queue latency on" : "");
	return 0;
}

/* ---- lease windows (--lease-probes=duty) ------------------------------- */

static void window_open(struct raylet_state *s, struct tracked *t)
{
	unsigned long long t0 = mono_ns();

	window_opened(s, t);
	attach_probes(s, t, t->info.attached);
	t->draining = false;
	t->info.window_open = t->links[RS_LP_REQUEST] != NULL;
	rs_debug("raylet pid %d: lease window open (attaching took %.1f ms)", (int)t->pid,
		 (double)(mono_ns() - t0) / 1e6);
}

/* Stop counting new leases; the reply side stays attached to drain the
 * ones that started inside the window. */
static void window_close(struct raylet_state *s, struct tracked *t, unsigned long long now)
{
	detach_async(s, &t->links[RS_LP_REQUEST]);
	t->info.window_open = 0;
	t->draining = true;
	t->drain_since_ns = now;
	rs_debug("raylet pid %d: lease window closed", (int)t->pid);
}

static void window_drain(struct raylet_state *s, struct tracked *t, unsigned long long now)
{
	long long left = (long long)(unanswered(s, t) - t->open_unanswered);

	if (left > 0 && now - t->drain_since_ns < RS_DRAIN_MAX_NS)
		return;
	if (left > 0)
		rs_debug("raylet pid %d: %lld lease(s) of the window still unanswered after the drain",
			 (int)t->pid, left);
	for (int p = 0; p < RS_LP_COUNT; p++)
		detach_async(s, &t->links[p]);
	t->draining = false;
	rs_debug("raylet pid %d: lease window drained %.1f ms after its close", (int)t->pid,
		 (double)(now - t->drain_since_ns) / 1e6);
}

/* Account the time since the last poll, then open, close or drain the
 * window as the schedule says. */
static void window_poll(struct raylet_state *s, struct tracked *t)
{
	unsigned long long now = mono_ns();
	bool open;

	if ((t->info.attached & RS_LP_REQUIRED_MASK) != RS_LP_REQUIRED_MASK)
		return;   /* no lease latency here: nothing to sample */
	t->info.tracked_ns += now - t->last_ns;
	if (t->links[RS_LP_REQUEST])
		t->info.attached_ns += now - t->last_ns;
	t->last_ns = now;
	open = rs_lease_window_open(&s->mode, unix_ms());
	if (open && !t->info.window_open)
		window_open(s, t);
	else if (!open && t->info.window_open)
		window_close(s, t, now);
	if (t->draining)
		window_drain(s, t, now);
	write_info(s, t);
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct raylet_state *s = ctx;
	const struct rs_raylet_event *e = data;
	struct tracked *t;

	if (len < sizeof(*e))
		return 0;
	if (e->type == RS_RAYLET_EXEC) {
		track(s, e->pid, "exec");
	} else if (e->type == RS_RAYLET_EXIT) {
		t = find_tracked(s, e->pid);
		if (t)
			untrack(s, t, "exited");
	}
	return 0;
}

/* ---- pinned state left by an earlier agent ----------------------------- */

/* Remove rs_raylets entries (nothing is attached any more) and the series of
 * raylets that are gone. Live raylets keep their series: counters continue. */
static void clean_stale(struct raylet_state *s)
{
	__u32 key, next, *prev = NULL;
	struct rs_raylet_info info;
	pid_t stale[RS_MAX_RAYLETS];
	int n = 0;

	while (!bpf_map__get_next_key(s->skel->maps.rs_raylets, prev, &next, sizeof(next))) {
		key = next;
		prev = &key;
		if (n < RS_MAX_RAYLETS)
			stale[n++] = key;
	}
	for (int i = 0; i < n; i++) {
		key = stale[i];
		bpf_map__delete_elem(s->skel->maps.rs_raylets, &key, sizeof(key), 0);
	}
	n = 0;
	prev = NULL;
	while (!bpf_map__get_next_key(s->skel->maps.rs_raylet_meta, prev, &next, sizeof(next))) {
		key = next;
		prev = &key;
		if (bpf_map__lookup_elem(s->skel->maps.rs_raylet_meta, &key, sizeof(key),
					 &info, sizeof(info), 0))
			continue;
		if (rs_proc_start_ticks(key) != info.start_ticks && n < RS_MAX_RAYLETS)
			stale[n++] = key;
	}
	for (int i = 0; i < n; i++)
		forget_series(s, stale[i]);
}

/* ---- family interface -------------------------------------------------- */

static void raylet_detach(void *state);

static int load_lease(struct raylet_state *s)
{
	int err;

	s->skel = raylet_bpf__open();
	if (!s->skel)
		return -errno ? -errno : -ENOMEM;
	err = rs_bpf_pin_maps(s->skel->obj, s->pin_dir, lease_pinned_maps);
	if (err)
		return err;
	err = raylet_bpf__load(s->skel);
	if (err) {
		rs_error("cannot load raylet BPF programs: %s", strerror(-err));
		return err;
	}
	s->exec_link = bpf_program__attach(s->skel->progs.raylet_exec);
	s->exit_link = bpf_program__attach(s->skel->progs.raylet_exit);
	if (!s->exec_link || !s->exit_link) {
		err = -errno;
		rs_error("cannot attach sched_process_exec/exit tracepoints: %s", strerror(-err));
		return err;
	}
	s->events = ring_buffer__new(bpf_map__fd(s->skel->maps.rs_raylet_ev), on_event, s, NULL);
	if (!s->events)
		return -errno;
	return 0;
}

static int raylet_attach(const struct rs_probe_ctx *ctx, void **state)
{
	struct raylet_state *s = calloc(1, sizeof(*s));
	pid_t pids[RS_MAX_RAYLETS];
	int err, n;

	if (!s)
		return -ENOMEM;
	snprintf(s->pin_dir, sizeof(s->pin_dir), "%s", ctx->pin_dir);
	if (ctx->raylet_path_filter)
		snprintf(s->path_filter, sizeof(s->path_filter), "%s", ctx->raylet_path_filter);
	s->mode = ctx->lease_mode;
	s->wanted = RPC_PROBES | (rs_lease_mode_outcomes(&s->mode) ? RS_LP_OUTCOME_MASK : 0) |
		    (ctx->lease_phases ? RS_LP_PHASES_MASK : 0);
	{
		char mode[32];

		rs_lease_mode_format(&s->mode, mode, sizeof(mode));
		rs_info("lease probes: %s%s", mode, ctx->lease_phases ? " with phases" : "");
	}
	err = load_lease(s);
	if (err)
		goto cleanup;
	clean_stale(s);
	/* Run-queue latency is a separate measure: its failure must not cost
	 * the lease latency. */
	err = rs_runq_open(s->pin_dir, true, &s->runq);
	if (err)
		rs_warn("run-queue latency disabled: %s", strerror(-err));

	n = rs_raylet_proc_scan(pids, RS_MAX_RAYLETS);
	if (n < 0)
		rs_warn("cannot scan /proc for raylets: %s", strerror(-n));
	for (int i = 0; i < n; i++)
		track(s, pids[i], "scan");
	if (n <= 0)
		rs_info("no raylet running yet; waiting for one to exec");
	*state = s;
	return 0;
cleanup:
	raylet_detach(s);
	return err;
}

/* Whether some raylet's closed window still waits for its leases. */
static bool any_draining(const struct raylet_state *s)
{
	for (int i = 0; i < RS_MAX_RAYLETS; i++)
		if (s->raylets[i].live && s->raylets[i].draining)
			return true;
	return false;
}

static void quick_drain(struct raylet_state *s)
{
	for (int round = 0; round < RS_QUICK_DRAIN_ROUNDS && any_draining(s); round++) {
		struct timespec pause = { 0, 1000000L << round };

		nanosleep(&pause, NULL);
		for (int i = 0; i < RS_MAX_RAYLETS; i++) {
			struct tracked *t = &s->raylets[i];

			if (t->live && t->draining)
				window_drain(s, t, mono_ns());
		}
	}
}

static int raylet_poll(void *state)
{
	struct raylet_state *s = state;
	time_t now = time(NULL);
	int err = ring_buffer__consume(s->events);

	if (err < 0 && err != -EINTR)
		rs_warn("raylet event ring buffer: %s", strerror(-err));
	for (int i = 0; i < RS_MAX_RAYLETS; i++) {
		struct tracked *t = &s->raylets[i];

		if (!t->pid)
			continue;
		if (t->live && rs_proc_start_ticks(t->pid) != t->start_ticks)
			untrack(s, t, "is gone");
		if (t->live)
			window_poll(s, t);
		if (!t->live && now - t->gone_at >= RS_GONE_GRACE_S) {
			forget_series(s, t->pid);
			memset(t, 0, sizeof(*t));
		}
	}
	quick_drain(s);
	/* The next window's attach would wait behind detaches of the same
	 * probes still in flight, inside that window: finish them here. */
	reaped(s);
	return 0;
}

static void raylet_detach(void *state)
{
	struct raylet_state *s = state;

	if (!s)
		return;
	reaped(s);
	for (int i = 0; i < RS_MAX_RAYLETS; i++)
		detach_links(&s->raylets[i]);
	bpf_link__destroy(s->exec_link);
	bpf_link__destroy(s->exit_link);
	ring_buffer__free(s->events);
	rs_runq_close(s->runq);
	if (s->skel) {
		/* Nothing is attached any more: empty the live set so readers of
		 * the pins (raysensectl) report these raylets as not watched. */
		__u32 key, next;

		while (!bpf_map__get_next_key(s->skel->maps.rs_raylets, NULL, &next, sizeof(next))) {
			key = next;
			if (bpf_map__delete_elem(s->skel->maps.rs_raylets, &key, sizeof(key), 0))
				break;
		}
	}
	raylet_bpf__destroy(s->skel);
	free(s);
}

const struct rs_probe_family rs_raylet_family = {
	.name = "raylet",
	.attach = raylet_attach,
	.poll = raylet_poll,
	.detach = raylet_detach,
	.collect = rs_raylet_collect,
};
