/* test_replay.c -- the replay simulator (controller/plan/replay.h) on tiny
 * traces whose answers are computed by hand for each arm, and the trace
 * parser's errors (each names its line).
 *
 * Conventions of the hand computations: the world moves in 1 s steps; Ray's
 * loop ticks at t = 0, 5, 10, ..., raysense's every second; a node is
 * stopped at the first tick where it has been idle MORE than its timeout;
 * node-seconds run from launch to stop. */
#include "check.h"
#include "controller/plan/replay.h"
#include "controller/trace_record.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"

struct expect {
	double node_seconds, p50, p99;
	long launches, gave_up, unserved;
	int peak;
};

struct replay_case {
	const char *name;
	const char *trace;
	struct expect ray, rs;
};

#define CPU4_FIXED30 \
	"{\"seed\": 1, \"drain_s\": 120, \"cluster\": {\"idle_timeout_s\": 60}, \"groups\": " \
	"[{\"name\": \"cpu\", \"resources\": {\"CPU\": 4}, \"max\": 10, " \
	"\"startup_s\": {\"dist\": \"fixed\", \"s\": 30}}]}\n"

static const struct replay_case cases[] = {
	{
		/* One node, launched at 0 by both, ALIVE at 30: the 4 tasks
		 * wait 30 s, run to 130; Ray stops it at its tick 195 (idle
		 * 65 > 60), raysense at 191 (idle 61). */
		"one node", CPU4_FIXED30
		"{\"t\": 0, \"submit\": [{\"shape\": {\"CPU\": 1}, \"count\": 4, \"duration_s\": 100}]}\n",
		{ 195, 30, 30, 1, 0, 0, 1 },
		{ 191, 30, 30, 1, 0, 0, 1 },
	},
	{
		/* A task at t=2: Ray sees it at its tick 5 (ALIVE 35, waited
		 * 33, idle from 45, stopped at 110: 105 node-s); raysense at 2
		 * (ALIVE 32, waited 30, idle from 42, stopped at 103: 101). */
		"submit between Ray's ticks", CPU4_FIXED30
		"{\"t\": 2, \"submit\": [{\"shape\": {\"CPU\": 1}, \"count\": 1, \"duration_s\": 10}]}\n",
		{ 105, 33, 33, 1, 0, 0, 1 },
		{ 101, 30, 30, 1, 0, 0, 1 },
	},
	{
		/* max_concurrent_launches 1, tasks of 100 s on 1-CPU nodes.
		 * Ray: in flight until ALIVE, so one node at a time (launched
		 * 0, 30, 60; the tasks wait 30, 60, 90; each node runs 100 s
		 * after its 30 s startup and stops 65 s later: 195 node-s).
		 * Raysense: a started node (a process: started at launch) no
		 * longer counts, so one launch per 1 s tick (0, 1, 2; waits 30,
		 * 31, 32; each node lives 30 + 100 + 61 = 191 s). */
		"in flight until started",
		"{\"seed\": 1, \"drain_s\": 200, \"cluster\": {\"idle_timeout_s\": 60, "
		"\"max_concurrent_launches\": 1, \"upscaling_speed\": 1000}, \"groups\": "
		"[{\"name\": \"cpu\", \"resources\": {\"CPU\": 1}, \"max\": 10, "
		"\"startup_s\": {\"dist\": \"fixed\", \"s\": 30}}]}\n"
		"{\"t\": 0, \"submit\": [{\"shape\": {\"CPU\": 1}, \"count\": 3, \"duration_s\": 100}]}\n",
		{ 585, 60, 90, 3, 0, 0, 3 },
		{ 573, 31, 32, 3, 0, 0, 3 },
	},
	{
		/* Group "a" (first) never starts; "b" starts in 20 s; launch
		 * timeout 100, end at 300.  Ray gives "a" up at 105 and 210
		 * and launches "a" again each time: the task is never served
		 * (node-s 105 + 105 + 90).  Raysense gives "a" up at 101, backs
		 * it off and launches "b" at once: ALIVE 121, the task waits
		 * 121 s, runs to 131, "b" stops at 192 (101 + 91 node-s). */
		"stuck group falls back",
		"{\"seed\": 1, \"end_s\": 300, \"cluster\": {\"idle_timeout_s\": 60, "
		"\"launch_timeout_s\": 100}, \"groups\": ["
		"{\"name\": \"a\", \"resources\": {\"CPU\": 1}, \"max\": 5, "
		"\"startup_s\": {\"dist\": \"fixed\", \"s\": 10, \"never_p\": 1}}, "
		"{\"name\": \"b\", \"resources\": {\"CPU\": 1}, \"max\": 5, "
		"\"startup_s\": {\"dist\": \"fixed\", \"s\": 20}}]}\n"
		"{\"t\": 0, \"submit\": [{\"shape\": {\"CPU\": 1}, \"count\": 1, \"duration_s\": 10}]}\n",
		{ 300, 0, 0, 3, 2, 1, 1 },
		{ 192, 121, 121, 2, 1, 0, 1 },
	},
};

static void check_arm(const char *name, const char *arm, const struct replay_metrics *m,
		      const struct expect *e)
{
	CHECK(fabs(m->node_seconds - e->node_seconds) < 1e-6, "%s/%s: node-s %g, want %g", name,
	      arm, m->node_seconds, e->node_seconds);
	CHECK(m->ttc_p50_s == e->p50 && m->ttc_p99_s == e->p99, "%s/%s: ttc %g/%g, want %g/%g",
	      name, arm, m->ttc_p50_s, m->ttc_p99_s, e->p50, e->p99);
	CHECK(m->launches == e->launches, "%s/%s: launches %ld, want %ld", name, arm, m->launches,
	      e->launches);
	CHECK(m->gave_up == e->gave_up, "%s/%s: gave up %ld, want %ld", name, arm, m->gave_up,
	      e->gave_up);
	CHECK(m->unserved == e->unserved, "%s/%s: unserved %ld, want %ld", name, arm, m->unserved,
	      e->unserved);
	CHECK(m->peak_nodes == e->peak, "%s/%s: peak %d, want %d", name, arm, m->peak_nodes,
	      e->peak);
}

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct replay_case *c = &cases[i];
		struct replay_trace t;
		struct replay_metrics ray, rs;
		char err[512];
		int rc = replay_trace_parse(c->trace, strlen(c->trace), &t, err, sizeof(err));

		CHECK(rc == 0, "%s: parse: %s", c->name, err);
		if (rc) {
			replay_trace_free(&t);
			continue;
		}
		CHECK(replay_run(&t, &t.ray, &ray, err, sizeof(err)) == 0, "%s: ray: %s", c->name, err);
		CHECK(replay_run(&t, &t.raysense, &rs, err, sizeof(err)) == 0, "%s: rs: %s", c->name,
		      err);
		check_arm(c->name, "ray", &ray, &c->ray);
		check_arm(c->name, "raysense", &rs, &c->rs);
		replay_trace_free(&t);
	}
}

/* Both arms draw the same startups: a lognormal group gives the same first
 * launch in each, and a second run gives the same numbers. */
static void test_deterministic(void)
{
	static const char *trace =
		"{\"seed\": 7, \"groups\": [{\"name\": \"g\", \"resources\": {\"CPU\": 2}, "
		"\"max\": 20, \"startup_s\": {\"dist\": \"lognormal\", \"median_s\": 40, "
		"\"sigma\": 0.5}}]}\n"
		"{\"t\": 0, \"submit\": [{\"shape\": {\"CPU\": 1}, \"count\": 30, \"duration_s\": 50}]}\n"
		"{\"t\": 100, \"submit\": [{\"shape\": {\"CPU\": 2}, \"count\": 5, \"duration_s\": 20}]}\n";
	struct replay_trace t;
	struct replay_metrics a, b;
	char err[512];

	CHECK(replay_trace_parse(trace, strlen(trace), &t, err, sizeof(err)) == 0, "%s", err);
	CHECK(replay_run(&t, &t.raysense, &a, err, sizeof(err)) == 0, "%s", err);
	CHECK(replay_run(&t, &t.raysense, &b, err, sizeof(err)) == 0, "%s", err);
	CHECK(!memcmp(&a, &b, sizeof(a)), "two runs of one trace differ");
	CHECK(a.unserved == 0 && a.served == 35 && a.tasks == 35, "served %ld of %ld", a.served,
	      a.tasks);
	CHECK(t.end_s == 120 + 900, "default end: last busy + 900 s drain, got %g", t.end_s);
	replay_trace_free(&t);
}

struct bad_case {
	const char *trace, *want;
};

static const struct bad_case bad[] = {
	{ "", "no header line" },
	{ "{\"groups\": []}\n", "line 1: $.groups: expected 1 to" },
	{ CPU4_FIXED30 "{\"t\": 0, \"submit\": [{\"shape\": {\"CPU\": 1}, \"count\": -1}]}\n",
	  "line 2: $.submit[0].count" },
	{ CPU4_FIXED30 "\n{\"t\": 0, \"submit\": [{\"shape\": {\"CPU\": 1}}]}\n",
	  "line 3: $.submit[0].duration_s: missing" },
	{ CPU4_FIXED30 "{\"t\": 5}\n{\"t\": 4}\n", "line 3: $.t: 4 is before" },
	{ CPU4_FIXED30 "{\"t\": 0, \"sumbit\": []}\n", "line 2: $: unknown field 'sumbit'" },
	{ CPU4_FIXED30 "{\"t\": 0,\n", "line 2: malformed JSON" },
	{ "{\"groups\": [{\"name\": \"g\", \"resources\": {\"CPU\": 1}, \"max\": 1, "
	  "\"startup_s\": {\"dist\": \"weibull\"}}]}\n",
	  "line 1: $.groups[0].startup_s.dist: 'weibull'" },
	{ CPU4_FIXED30 "{\"t\": 1, \"startup\": {\"group\": \"gpu\", \"s\": 3}}\n",
	  "line 2: $.startup.group: no group 'gpu'" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct replay_trace t;
		char err[512] = "";
		int rc = replay_trace_parse(bad[i].trace, strlen(bad[i].trace), &t, err, sizeof(err));

		CHECK(rc == -EINVAL, "bad[%zu]: rc %d", i, rc);
		CHECK(strstr(err, bad[i].want), "bad[%zu]: '%s' lacks '%s'", i, err, bad[i].want);
		replay_trace_free(&t);
	}
}

/* "recorded": draws come from the trace's startup lines. */
static void test_recorded(void)
{
	static const char *trace =
		"{\"task_duration_s\": 10, \"drain_s\": 100, \"groups\": [{\"name\": \"g\", "
		"\"resources\": {\"CPU\": 1}, \"max\": 3, \"startup_s\": {\"dist\": \"recorded\"}}]}\n"
		"{\"t\": 0, \"startup\": {\"group\": \"g\", \"s\": 12}}\n"
		"{\"t\": 0, \"submit\": [{\"shape\": {\"CPU\": 1}}]}\n";
	struct replay_trace t;
	struct replay_metrics m;
	char err[512];

	CHECK(replay_trace_parse(trace, strlen(trace), &t, err, sizeof(err)) == 0, "%s", err);
	CHECK(t.startup[0].sample_count == 1 && t.startup[0].samples[0] == 12, "samples");
	CHECK(replay_run(&t, &t.raysense, &m, err, sizeof(err)) == 0, "%s", err);
	CHECK(m.ttc_p50_s == 12, "recorded startup 12 s: waited %g", m.ttc_p50_s);
	replay_trace_free(&t);
}

/* One recorder tick with `n` CPU:1 tasks pending at now. */
static void record_tick(struct trace_record *r, const struct fusion *f, double now, long n)
{
	static const struct planner_resource cpu = { "CPU", 1 };
	struct planner_shape_demand d = { PLANNER_DEMAND_TASK, { &cpu, 1 }, n };
	struct plan_input p = { .now = now };

	p.in.shapes = &d;
	p.in.shape_count = n > 0;
	CHECK(trace_record_tick(r, &p, f) == 0, "tick at %g", now);
}

/* The controller's recording parses as a trace: pending 3, 5, 2, 0, 4
 * CPU:1 tasks over five ticks are submissions of 3, 2, 4 (a rise only);
 * startups the model learned become the group's recorded samples. */
static void test_record_roundtrip(void)
{
	char path[] = "/tmp/test_replay_XXXXXX", err[512], *buf = NULL;
	struct controller_config cfg;
	struct fusion_config fc;
	struct trace_record *r;
	struct replay_trace t;
	struct fusion f;
	size_t len = 0;
	int fd = mkstemp(path);

	config_init(&cfg);
	CHECK(fd >= 0 && config_add_group_spec(&cfg, "cpu:CPU=4,min=0,max=8,idle=30", err,
					       sizeof(err)) == 0, "setup: %s", err);
	fusion_config_defaults(&fc);
	CHECK(fusion_init(&f, &fc, cfg.group_count) == 0, "fusion");
	CHECK(trace_record_open(&r, path, &cfg, 300, 45, 5000) == 0, "open %s", path);
	record_tick(r, &f, 5000, 3);
	fusion_node_alive(&f, 0, 33);
	record_tick(r, &f, 5001, 5);
	record_tick(r, &f, 5002, 2);
	record_tick(r, &f, 5003, 0);
	fusion_node_alive(&f, 0, 41);
	record_tick(r, &f, 5004, 4);
	trace_record_close(r);
	CHECK(rs_read_file(path, REPLAY_MAX_BYTES, &buf, &len) == 0, "read back");
	CHECK(buf && replay_trace_parse(buf, len, &t, err, sizeof(err)) == 0, "parse: %s\n%s", err,
	      buf ? buf : "");
	CHECK(t.task_count == 9 && t.sub_count == 3, "tasks %ld in %zu submits", t.task_count,
	      t.sub_count);
	CHECK(t.sub_count == 3 && t.subs[1].t == 1 && t.subs[1].count == 2 &&
	      t.subs[2].t == 4 && t.subs[2].count == 4 && t.subs[2].duration_s == 45, "submits");
	CHECK(t.startup[0].dist == REPLAY_RECORDED && t.startup[0].sample_count == 2 &&
	      t.startup[0].samples[1] == 41, "recorded startups");
	CHECK(t.launch_timeout_s == 300 && t.cfg.groups[0].idle_timeout_s == 30, "settings");
	replay_trace_free(&t);
	free(buf);
	fusion_fini(&f);
	config_free(&cfg);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

int main(void)
{
	test_cases();
	test_deterministic();
	test_bad();
	test_recorded();
	test_record_roundtrip();
	CHECK_EXIT();
}
