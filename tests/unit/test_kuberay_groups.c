/* test_kuberay_groups.c -- a RayCluster's worker groups as the controller's
 * config (kuberay_groups.c): tables of groups (rayStartParams vs container
 * limits, GPUs, numOfHosts, huge maxReplicas, missing fields, nulls, bad
 * quantities), autoscalerOptions, enableInTreeAutoscaling, the narrowing
 * merge with the operator's config, config_equal, and how the per-group
 * counters (metrics.c) and last launch times (actuator.c) follow a group
 * set that changes. */
#include "check.h"

#include "controller/act/actuator.h"
#include "controller/config.h"
#include "controller/fusion/fusion.h"
#include "controller/group_set.h"
#include "controller/metrics.h"
#include "controller/plan/plan_input.h"
#include "controller/plan/planner.h"
#include "controller/provider/kuberay_groups.h"
#include "controller/source/signals.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C0(res) "\"template\":{\"spec\":{\"containers\":[{\"name\":\"ray\",\"resources\":" res "}]}}"
#define LIM_CPU2 C0("{\"limits\":{\"cpu\":\"2\",\"memory\":\"4Gi\"}}")

struct gcase {
	const char *label;
	const char *group;		/* one workerGroupSpecs entry */
	bool kept;
	int min, max;
	double cpu, gpu, memory, idle;	/* -1 = absent */
	const char *custom;		/* "name=value" or NULL */
	const char *note;		/* substring of the notes, or NULL */
};

static const struct gcase gcases[] = {
	{ "limits", "{\"groupName\":\"g\",\"minReplicas\":1,\"maxReplicas\":4," LIM_CPU2 "}",
	  true, 1, 4, 2, -1, 4294967296.0, -1, NULL, NULL },
	{ "rayStartParams win", "{\"groupName\":\"g\",\"maxReplicas\":3,\"rayStartParams\":"
	  "{\"num-cpus\":\"1\",\"num-gpus\":\"2\",\"memory\":\"1000\"}," LIM_CPU2 "}",
	  true, 0, 3, 1, 2, 1000, -1, NULL, NULL },
	{ "requests when no limits", "{\"groupName\":\"g\",\"maxReplicas\":2,"
	  C0("{\"requests\":{\"cpu\":\"500m\"}}") "}", true, 0, 2, 1, -1, -1, -1, NULL, NULL },
	{ "nvidia gpu limit", "{\"groupName\":\"g\",\"maxReplicas\":2,"
	  C0("{\"limits\":{\"cpu\":\"8\",\"nvidia.com/gpu\":\"4\"}}") "}",
	  true, 0, 2, 8, 4, -1, -1, NULL, NULL },
	{ "custom resources", "{\"groupName\":\"g\",\"maxReplicas\":2,\"rayStartParams\":"
	  "{\"resources\":\"'{\\\"Custom1\\\": 3}'\"}," LIM_CPU2 "}",
	  true, 0, 2, 2, -1, 4294967296.0, -1, "Custom1=3", NULL },
	{ "numOfHosts multiplies", "{\"groupName\":\"g\",\"minReplicas\":1,\"maxReplicas\":3,"
	  "\"numOfHosts\":4," LIM_CPU2 "}", true, 4, 12, 2, -1, 4294967296.0, -1, NULL, NULL },
	{ "KubeRay default maxReplicas", "{\"groupName\":\"g\",\"maxReplicas\":2147483647,"
	  LIM_CPU2 "}", true, 0, PLANNER_MAX_NODES, 2, -1, 4294967296.0, -1, NULL,
	  "clamped to 100000" },
	{ "huge x numOfHosts (64-bit)", "{\"groupName\":\"g\",\"maxReplicas\":2147483647,"
	  "\"numOfHosts\":2147483647," LIM_CPU2 "}", true, 0, PLANNER_MAX_NODES, 2, -1,
	  4294967296.0, -1, NULL, "4611686014132420609" },
	{ "maxReplicas absent", "{\"groupName\":\"g\"," LIM_CPU2 "}", true, 0, PLANNER_MAX_NODES,
	  2, -1, 4294967296.0, -1, NULL, "clamped" },
	{ "nulls are absent", "{\"groupName\":\"g\",\"minReplicas\":null,\"maxReplicas\":5,"
	  "\"numOfHosts\":null,\"idleTimeoutSeconds\":null," LIM_CPU2 "}",
	  true, 0, 5, 2, -1, 4294967296.0, -1, NULL, NULL },
	{ "group idle timeout", "{\"groupName\":\"g\",\"maxReplicas\":5,\"idleTimeoutSeconds\":300,"
	  LIM_CPU2 "}", true, 0, 5, 2, -1, 4294967296.0, 300, NULL, NULL },
	{ "negative maxReplicas", "{\"groupName\":\"g\",\"maxReplicas\":-1," LIM_CPU2 "}",
	  false, 0, 0, 0, 0, 0, 0, NULL, "whole numbers in [0, 2^31-1]" },
	{ "maxReplicas over int32", "{\"groupName\":\"g\",\"maxReplicas\":4294967296," LIM_CPU2 "}",
	  false, 0, 0, 0, 0, 0, 0, NULL, "left out" },
	{ "fractional minReplicas", "{\"groupName\":\"g\",\"minReplicas\":0.5,\"maxReplicas\":2,"
	  LIM_CPU2 "}", false, 0, 0, 0, 0, 0, 0, NULL, "left out" },
	{ "string maxReplicas", "{\"groupName\":\"g\",\"maxReplicas\":\"4\"," LIM_CPU2 "}",
	  false, 0, 0, 0, 0, 0, 0, NULL, "left out" },
	{ "min > max", "{\"groupName\":\"g\",\"minReplicas\":3,\"maxReplicas\":2," LIM_CPU2 "}",
	  false, 0, 0, 0, 0, 0, 0, NULL, "minReplicas 3 > maxReplicas 2" },
	{ "bad quantity", "{\"groupName\":\"g\",\"maxReplicas\":2,"
	  C0("{\"limits\":{\"cpu\":\"2 cores\"}}") "}", false, 0, 0, 0, 0, 0, 0, NULL, "cpu" },
	{ "no CPU anywhere", "{\"groupName\":\"g\",\"maxReplicas\":2,"
	  C0("{\"limits\":{\"memory\":\"1Gi\"}}") "}", false, 0, 0, 0, 0, 0, 0, NULL,
	  "cannot derive CPU" },
	{ "no containers", "{\"groupName\":\"g\",\"maxReplicas\":2,\"template\":{\"spec\":{}}}",
	  false, 0, 0, 0, 0, 0, 0, NULL, "containers[0]" },
	{ "num-cpus not whole", "{\"groupName\":\"g\",\"maxReplicas\":2,\"rayStartParams\":"
	  "{\"num-cpus\":\"1.5\"}," LIM_CPU2 "}", false, 0, 0, 0, 0, 0, 0, NULL, "num-cpus" },
	{ "null groupName", "{\"groupName\":null,\"maxReplicas\":2," LIM_CPU2 "}",
	  false, 0, 0, 0, 0, 0, 0, NULL, "groupName" },
	{ "group named head", "{\"groupName\":\"head\",\"maxReplicas\":2," LIM_CPU2 "}",
	  false, 0, 0, 0, 0, 0, 0, NULL, "'head'" },
	{ "bad idle keeps group", "{\"groupName\":\"g\",\"maxReplicas\":2,\"idleTimeoutSeconds\":-5,"
	  LIM_CPU2 "}", true, 0, 2, 2, -1, 4294967296.0, -1, NULL, "idleTimeoutSeconds" },
};

static int parse_doc(const char *spec_extra, const char *groups, struct kuberay_spec *s,
		     char *err)
{
	char doc[4096];

	snprintf(doc, sizeof(doc), "{\"apiVersion\":\"ray.io/v1\",\"kind\":\"RayCluster\","
		 "\"spec\":{%s\"workerGroupSpecs\":[%s]}}", spec_extra, groups);
	return kuberay_spec_parse(doc, strlen(doc), s, err, 256);
}

static void check_res(const struct gcase *tc, const struct worker_group *g, const char *name,
		      double want)
{
	double got = resmap_get(&g->resources, name, -1);

	CHECK(got == want, "%s: %s = %g, want %g", tc->label, name, got, want);
}

static void test_group_table(void)
{
	for (size_t i = 0; i < sizeof(gcases) / sizeof(gcases[0]); i++) {
		const struct gcase *tc = &gcases[i];
		struct kuberay_spec s;
		char err[256] = "";
		int rc = parse_doc("", tc->group, &s, err);
		const struct worker_group *g = config_find_group(&s.cfg, "g");

		CHECK(rc == 0, "%s: rc %d (%s)", tc->label, rc, err);
		CHECK((g != NULL) == tc->kept, "%s: kept %d, want %d; notes: %s", tc->label,
		      g != NULL, tc->kept, s.notes);
		if (tc->note)
			CHECK(strstr(s.notes, tc->note) != NULL, "%s: notes '%s' lack '%s'", tc->label,
			      s.notes, tc->note);
		else
			CHECK(!s.notes[0], "%s: unexpected notes '%s'", tc->label, s.notes);
		if (g && tc->kept) {
			CHECK(g->min_workers == tc->min && g->max_workers == tc->max,
			      "%s: min/max %d/%d, want %d/%d", tc->label, g->min_workers,
			      g->max_workers, tc->min, tc->max);
			CHECK(g->idle_timeout_s == tc->idle, "%s: idle %g, want %g", tc->label,
			      g->idle_timeout_s, tc->idle);
			check_res(tc, g, "CPU", tc->cpu);
			check_res(tc, g, "GPU", tc->gpu);
			check_res(tc, g, "memory", tc->memory);
			if (tc->custom) {
				char name[32];
				double v;

				CHECK(sscanf(tc->custom, "%31[^=]=%lf", name, &v) == 2, "table");
				check_res(tc, g, name, v);
			}
		}
		kuberay_spec_free(&s);
	}
}

static void test_cluster_options(void)
{
	static const struct {
		const char *extra;
		double idle, speed;
		bool in_tree;
	} cases[] = {
		{ "", 60, 1000, false },
		{ "\"autoscalerOptions\":{\"idleTimeoutSeconds\":120,\"upscalingMode\":\"Conservative\"},",
		  120, 1, false },
		{ "\"autoscalerOptions\":{\"upscalingMode\":\"Aggressive\"},", 60, 1000, false },
		{ "\"autoscalerOptions\":{\"upscalingMode\":\"Default\"},", 60, 1000, false },
		{ "\"autoscalerOptions\":null,\"enableInTreeAutoscaling\":true,", 60, 1000, true },
		{ "\"enableInTreeAutoscaling\":false,", 60, 1000, false },
	};
	static const char *const bad[] = { "[]", "{}", "{\"spec\":[]}", "{\"spec\":{\"workerGroupSpecs\":{}}}", "nope" };
	struct kuberay_spec s;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(parse_doc(cases[i].extra, "", &s, err) == 0, "options %zu: %s", i, err);
		CHECK(s.cfg.idle_timeout_s == cases[i].idle && s.cfg.upscaling_speed == cases[i].speed &&
		      s.in_tree_autoscaling == cases[i].in_tree && s.cfg.group_count == 0,
		      "options %zu: idle %g speed %g in_tree %d", i, s.cfg.idle_timeout_s,
		      s.cfg.upscaling_speed, s.in_tree_autoscaling);
		kuberay_spec_free(&s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(kuberay_spec_parse(bad[i], strlen(bad[i]), &s, err, sizeof(err)) == -EINVAL &&
		      err[0], "'%s' should be refused", bad[i]);
		kuberay_spec_free(&s);
	}
	CHECK(kuberay_spec_parse("{\"spec\":{}}", 11, &s, err, sizeof(err)) == 0 &&
	      s.cfg.group_count == 0, "no workerGroupSpecs: no groups");
	kuberay_spec_free(&s);
}

/* ------------------------------------------------------------------ merge */

static void user_config(struct controller_config *u, const char *json)
{
	char err[256];

	config_init(u);
	u->narrowing = true;
	u->upscaling_speed = -1;
	u->idle_timeout_s = -1;
	CHECK(config_parse_json(u, json, strlen(json), err, sizeof(err)) == 0 &&
	      config_validate(u, err, sizeof(err)) == 0, "user config %s: %s", json, err);
}

static void test_merge(void)
{
	struct controller_config u, out;
	struct kuberay_spec s;
	const struct worker_group *g;
	char err[256], notes[1024] = "";

	CHECK(parse_doc("\"autoscalerOptions\":{\"idleTimeoutSeconds\":30},",
			"{\"groupName\":\"a\",\"minReplicas\":1,\"maxReplicas\":4," LIM_CPU2 "},"
			"{\"groupName\":\"b\",\"maxReplicas\":8,\"idleTimeoutSeconds\":100," LIM_CPU2 "}",
			&s, err) == 0, "%s", err);
	/* empty user config: the RayCluster's as is */
	user_config(&u, "{\"worker_groups\":[]}");
	CHECK(kuberay_spec_merge(&s.cfg, &u, &out, notes, sizeof(notes)) == 0, "merge");
	CHECK(config_equal(&out, &s.cfg) && !notes[0], "empty user config changes nothing: %s", notes);
	config_free(&out);
	config_free(&u);
	/* narrowing: lower max, higher min, longer idle, lower speed */
	user_config(&u, "{\"upscaling_speed\":5,\"idle_timeout_s\":45,\"max_workers\":6,"
		    "\"worker_groups\":[{\"name\":\"a\",\"max_workers\":2,\"min_workers\":2},"
		    "{\"name\":\"b\",\"idle_timeout_s\":200}]}");
	CHECK(kuberay_spec_merge(&s.cfg, &u, &out, notes, sizeof(notes)) == 0, "merge");
	g = config_find_group(&out, "a");
	CHECK(g && g->max_workers == 2 && g->min_workers == 2, "a narrowed: %d..%d",
	      g ? g->min_workers : -9, g ? g->max_workers : -9);
	g = config_find_group(&out, "b");
	CHECK(g && g->idle_timeout_s == 200 && g->max_workers == 8, "b: longer idle kept");
	CHECK(out.upscaling_speed == 5 && out.idle_timeout_s == 45 && out.max_workers == 6,
	      "globals narrowed: speed %g idle %g max %d", out.upscaling_speed, out.idle_timeout_s,
	      out.max_workers);
	CHECK(!notes[0], "no conflict: %s", notes);
	config_free(&out);
	config_free(&u);
	/* widening: conflicts, logged with both values; the RayCluster's used */
	user_config(&u, "{\"upscaling_speed\":5000,\"idle_timeout_s\":10,"
		    "\"worker_groups\":[{\"name\":\"a\",\"max_workers\":10,\"min_workers\":0,"
		    "\"resources\":{\"CPU\":4}},{\"name\":\"b\",\"idle_timeout_s\":50},"
		    "{\"name\":\"zz\",\"max_workers\":1}]}");
	CHECK(kuberay_spec_merge(&s.cfg, &u, &out, notes, sizeof(notes)) == 0, "merge");
	g = config_find_group(&out, "a");
	CHECK(g && g->max_workers == 4 && g->min_workers == 1, "a kept 1..4");
	g = config_find_group(&out, "b");
	CHECK(g && g->idle_timeout_s == 100, "b keeps 100 s");
	CHECK(out.upscaling_speed == 1000 && out.idle_timeout_s == 30 && !config_find_group(&out, "zz"),
	      "globals kept");
	CHECK(strstr(notes, "worker group a max_workers: 10 in the controller config would widen "
		     "the RayCluster's 4") && strstr(notes, "min_workers: 0") &&
	      strstr(notes, "idle_timeout_s: 50") && strstr(notes, "upscaling_speed: 5000") &&
	      strstr(notes, "idle_timeout_s: 10") && strstr(notes, "resources in the controller") &&
	      strstr(notes, "zz of the controller config is not in the RayCluster"),
	      "conflict notes: %s", notes);
	config_free(&out);
	config_free(&u);
	kuberay_spec_free(&s);
}

/* ---------------------------------------------------------------- platform */

#define VK "\"virtual-kubelet\""
#define AFF(op, vals) "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnored" \
	"DuringExecution\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"type\"," \
	"\"operator\":\"" op "\",\"values\":" vals "}]}]}}}"

#define CONTAINER "\"containers\":[{\"name\":\"ray\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]"

/* The group's platform from its pod template, as ACK users mark ECI. */
static void test_platform_table(void)
{
	static const struct {
		const char *label;
		const char *meta;	/* template.metadata (JSON), NULL = none */
		const char *spec;	/* template.spec members besides containers */
		enum group_platform want;
	} cases[] = {
		{ "eci label", "{\"labels\":{\"alibabacloud.com/eci\":\"true\"}}", "", PLATFORM_ECI },
		{ "eci label false", "{\"labels\":{\"alibabacloud.com/eci\":\"false\"}}", "",
		  PLATFORM_ECS },
		{ "eci label a bool", "{\"labels\":{\"alibabacloud.com/eci\":true}}", "", PLATFORM_ECS },
		{ "eci label null", "{\"labels\":{\"alibabacloud.com/eci\":null}}", "", PLATFORM_ECS },
		{ "labels garbage", "{\"labels\":[\"alibabacloud.com/eci\"]}", "", PLATFORM_ECS },
		{ "metadata null", "null", "", PLATFORM_ECS },
		{ "nodeSelector", NULL, "\"nodeSelector\":{\"type\":" VK "},", PLATFORM_ECI },
		{ "nodeSelector other", NULL, "\"nodeSelector\":{\"type\":\"ecs\"},", PLATFORM_ECS },
		{ "nodeSelector null", NULL, "\"nodeSelector\":null,", PLATFORM_ECS },
		{ "nodeSelector number", NULL, "\"nodeSelector\":{\"type\":7},", PLATFORM_ECS },
		{ "affinity In", NULL, AFF("In", "[\"x\"," VK "]") ",", PLATFORM_ECI },
		{ "affinity NotIn (the ECS example)", NULL, AFF("NotIn", "[" VK "]") ",",
		  PLATFORM_ECS },
		{ "affinity values garbage", NULL, AFF("In", "\"virtual-kubelet\"") ",", PLATFORM_ECS },
		{ "affinity terms null", NULL, "\"affinity\":{\"nodeAffinity\":{\"required"
		  "DuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":null}}},",
		  PLATFORM_ECS },
		{ "toleration", NULL, "\"tolerations\":[{\"key\":\"virtual-kubelet.io/provider\","
		  "\"operator\":\"Equal\",\"value\":\"alibabacloud\",\"effect\":\"NoSchedule\"}],",
		  PLATFORM_ECI },
		{ "toleration Exists", NULL, "\"tolerations\":[{\"key\":\"other\"},"
		  "{\"key\":\"virtual-kubelet.io/provider\",\"operator\":\"Exists\"}],", PLATFORM_ECI },
		{ "toleration of everything", NULL, "\"tolerations\":[{\"operator\":\"Exists\"}],",
		  PLATFORM_ECS },
		{ "tolerations garbage", NULL, "\"tolerations\":{\"key\":"
		  "\"virtual-kubelet.io/provider\"},", PLATFORM_ECS },
		{ "toleration key null", NULL, "\"tolerations\":[{\"key\":null},7,null],",
		  PLATFORM_ECS },
		{ "none", NULL, "", PLATFORM_ECS },
	};
	static const char *const garbage_templates[] = { "null", "\"eci\"", "[]", "{\"spec\":7}" };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char group[1024], err[256] = "";
		struct kuberay_spec s;
		cJSON *o;

		snprintf(group, sizeof(group), "{\"groupName\":\"g\",\"maxReplicas\":2,\"template\":"
			 "{%s%s%s\"spec\":{%s" CONTAINER "}}}", cases[i].meta ? "\"metadata\":" : "",
			 cases[i].meta ? cases[i].meta : "", cases[i].meta ? "," : "", cases[i].spec);
		o = cJSON_Parse(group);
		CHECK(o && kuberay_group_platform(o) == cases[i].want, "%s: platform %s, want %s",
		      cases[i].label, config_platform_name(kuberay_group_platform(o)),
		      config_platform_name(cases[i].want));
		cJSON_Delete(o);
		/* The same through the RayCluster parser. */
		CHECK(parse_doc("", group, &s, err) == 0 && s.cfg.group_count == 1 &&
		      s.cfg.groups[0].platform == cases[i].want, "%s: parsed %s (%s%s)",
		      cases[i].label, s.cfg.group_count ? config_platform_name(s.cfg.groups[0].platform)
							: "no group", err, s.notes);
		kuberay_spec_free(&s);
	}
	for (size_t i = 0; i < sizeof(garbage_templates) / sizeof(garbage_templates[0]); i++) {
		char group[256];
		cJSON *o;

		snprintf(group, sizeof(group), "{\"groupName\":\"g\",\"template\":%s}",
			 garbage_templates[i]);
		o = cJSON_Parse(group);
		CHECK(o && kuberay_group_platform(o) == PLATFORM_ECS, "template %s: ecs",
		      garbage_templates[i]);
		cJSON_Delete(o);
	}
	CHECK(kuberay_group_platform(NULL) == PLATFORM_ECS, "no group object: ecs");
}

/* The operator's "platform" wins over the pod template's, with a note. */
static void test_platform_merge(void)
{
	struct controller_config u, out;
	struct kuberay_spec s;
	char err[256], notes[1024] = "";

	CHECK(parse_doc("", "{\"groupName\":\"a\",\"maxReplicas\":2," LIM_CPU2 "},"
			"{\"groupName\":\"b\",\"maxReplicas\":2,\"template\":{\"metadata\":{\"labels\":"
			"{\"alibabacloud.com/eci\":\"true\"}},\"spec\":{\"containers\":[{\"name\":\"ray\","
			"\"resources\":{\"limits\":{\"cpu\":\"2\",\"memory\":\"4Gi\"}}}]}}}", &s, err) == 0,
	      "%s", err);
	CHECK(s.cfg.group_count == 2 && s.cfg.groups[0].platform == PLATFORM_ECS &&
	      s.cfg.groups[1].platform == PLATFORM_ECI, "a ecs, b eci from the template");
	user_config(&u, "{\"worker_groups\":[{\"name\":\"a\",\"platform\":\"eci\"},"
		    "{\"name\":\"b\",\"platform\":\"eci\"}]}");
	CHECK(kuberay_spec_merge(&s.cfg, &u, &out, notes, sizeof(notes)) == 0, "merge");
	CHECK(config_find_group(&out, "a")->platform == PLATFORM_ECI &&
	      config_find_group(&out, "b")->platform == PLATFORM_ECI, "the operator's platform");
	CHECK(strstr(notes, "worker group a: platform eci from the controller config (the "
		     "RayCluster's pod template says ecs)") && !strstr(notes, "group b"),
	      "a note for a only: %s", notes);
	CHECK(!config_equal(&out, &s.cfg), "a platform change is a new group set");
	config_free(&out);
	config_free(&u);
	kuberay_spec_free(&s);
}

/* "platform" in controller.json: one of three names, else a clear error. */
static void test_platform_config(void)
{
	static const struct {
		const char *value;		/* JSON text; NULL = no key */
		int rc;
		enum group_platform want;
		const char *err;
	} cases[] = {
		{ NULL, 0, PLATFORM_UNSET, NULL },
		{ "null", 0, PLATFORM_UNSET, NULL },
		{ "\"local\"", 0, PLATFORM_LOCAL, NULL },
		{ "\"ecs\"", 0, PLATFORM_ECS, NULL },
		{ "\"eci\"", 0, PLATFORM_ECI, NULL },
		{ "\"ECI\"", -EINVAL, 0, "$.worker_groups[0].platform: 'ECI' is not \"local\", \"ecs\" or \"eci\"" },
		{ "\"\"", -EINVAL, 0, "$.worker_groups[0].platform: '' is not" },
		{ "\"unset\"", -EINVAL, 0, "'unset' is not" },
		{ "1", -EINVAL, 0, "$.worker_groups[0].platform: expected a string" },
		{ "true", -EINVAL, 0, "expected a string" },
		{ "[\"eci\"]", -EINVAL, 0, "expected a string" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct controller_config c;
		char doc[256], err[256] = "";
		int rc;

		snprintf(doc, sizeof(doc), "{\"worker_groups\":[{\"name\":\"g\",\"resources\":"
			 "{\"CPU\":1}%s%s}]}", cases[i].value ? ",\"platform\":" : "",
			 cases[i].value ? cases[i].value : "");
		config_init(&c);
		rc = config_parse_json(&c, doc, strlen(doc), err, sizeof(err));
		CHECK(rc == cases[i].rc, "%s: rc %d (%s)", doc, rc, err);
		if (!rc && !cases[i].rc)
			CHECK(c.groups[0].platform == cases[i].want, "%s: platform %s", doc,
			      config_platform_name(c.groups[0].platform));
		if (cases[i].err)
			CHECK(strstr(err, cases[i].err), "%s: error '%s'", doc, err);
		/* local provider: the groups without one become local */
		if (!rc) {
			config_default_platform(&c, PLATFORM_LOCAL);
			CHECK(c.groups[0].platform == (cases[i].want ? cases[i].want : PLATFORM_LOCAL),
			      "%s: default local", doc);
		}
		config_free(&c);
	}
	CHECK(config_platform_from_name(NULL) == PLATFORM_UNSET &&
	      !strcmp(config_platform_name((enum group_platform)99), "unset"), "names");
}

/* ---------------------------------------------------- a group set changes */

static void two_groups(struct controller_config *c, const char *a, const char *b)
{
	char json[512], err[256];

	config_init(c);
	snprintf(json, sizeof(json), "{\"worker_groups\":[{\"name\":\"%s\",\"resources\":{\"CPU\":1}}"
		 "%s%s%s]}", a, b ? ",{\"name\":\"" : "", b ? b : "",
		 b ? "\",\"resources\":{\"CPU\":2}}" : "");
	CHECK(config_parse_json(c, json, strlen(json), err, sizeof(err)) == 0, "%s", err);
}

/* The fusion rules' per-group state (startup model, back-off) too. */
static void test_fusion_follows(void)
{
	static const int map[] = { -1, 1 };	/* gamma (new), alpha (was 1) */
	struct fusion_config fc;
	struct fusion f;

	fusion_config_defaults(&fc);
	CHECK(fusion_init(&f, &fc, 2) == 0, "fusion");
	f.g[1].backoff_until = 7;
	fusion_node_alive(&f, 1, 12.5);
	CHECK(fusion_regroup(&f, map, 2) == 0 && f.group_count == 2, "regroup");
	CHECK(f.g[0].backoff_until == 0 && f.g[0].startup.src[STARTUP_SRC_CONTROLLER].count == 0, "a new group starts empty");
	CHECK(f.g[1].backoff_until == 7 && f.g[1].startup.src[STARTUP_SRC_CONTROLLER].count == 1, "alpha kept its state");
	fusion_fini(&f);
}

/* The /metrics text of m (a decision log and signals only to render). */
static char *render(struct controller_metrics *m)
{
	struct decision_log *log = decision_log_new(10, false);
	struct signals *sig = signals_new();
	char *text = metrics_render(m, log, sig);

	decision_log_free(log);
	signals_free(sig);
	return text;
}

static void test_state_follows_names(void)
{
	struct controller_config c1, c2;
	struct actuator_deps deps = { 0 };
	struct controller_metrics *m;
	struct actuator a;
	char *text;

	two_groups(&c1, "alpha", "beta");
	two_groups(&c2, "gamma", "alpha");	/* beta removed, gamma added, alpha moved */
	CHECK(!config_equal(&c1, &c2), "different sets");
	CHECK(config_equal(&c1, &c1), "equal to itself");
	m = metrics_new(&c1);
	metrics_launch(m, 0);
	metrics_launch(m, 0);
	metrics_launch(m, 1);
	metrics_termination(m, 0, TR_IDLE);
	CHECK(metrics_set_config(m, &c2) == 0, "metrics swap");
	config_free(&c1);	/* the old set may go once swapped */
	metrics_launch(m, 0);
	metrics_other_autoscaler(m, true);
	text = render(m);
	CHECK(text && strstr(text, "raysense_controller_launches_total{type=\"alpha\"} 2\n") &&
	      strstr(text, "raysense_controller_launches_total{type=\"gamma\"} 1\n") &&
	      !strstr(text, "beta") &&
	      strstr(text, "raysense_controller_terminations_total{type=\"alpha\",reason=\"idle\"} 1\n") &&
	      strstr(text, "raysense_controller_other_autoscaler 1\n"),
	      "counters follow names:\n%s", text ? text : "(null)");
	free(text);
	metrics_free(m);

	two_groups(&c1, "alpha", "beta");
	deps.config = &c1;
	CHECK(actuator_init(&a, &deps) == 0, "actuator");
	a.last_launch_at[0] = 100;
	a.last_launch_at[1] = 200;
	CHECK(actuator_set_config(&a, &c2) == 0, "actuator swap");
	CHECK(a.last_launch_at[0] == 0 && a.last_launch_at[1] == 100 && a.d.config == &c2,
	      "last launch follows alpha: %g %g", a.last_launch_at[0], a.last_launch_at[1]);
	actuator_fini(&a);
	config_free(&c1);
	config_free(&c2);
	test_fusion_follows();
}

/* A controller started before it read any group (KubeRay provider, absent
 * controller.json) learns two: the per-group worker counts must fit the new
 * set (this overflowed the heap before; ASan tier), and a later swap carries
 * last round's counts to the group's new index. */
static void test_metrics_grow_from_no_group(void)
{
	struct controller_config none, two, swapped;
	struct planner_node nodes[3] = {
		{ .id = "a", .type = "alpha", .status = PLANNER_NODE_RUNNING },
		{ .id = "b", .type = "beta", .status = PLANNER_NODE_PENDING },
		{ .id = "c", .type = "beta", .status = PLANNER_NODE_RUNNING },
	};
	struct plan_input p = { 0 };
	struct planner_output out = { 0 };
	struct controller_metrics *m;
	char *text;

	config_init(&none);
	two_groups(&two, "alpha", "beta");
	two_groups(&swapped, "beta", "alpha");
	m = metrics_new(&none);
	CHECK(m && metrics_set_config(m, &two) == 0, "grow to two groups");
	p.in.nodes = nodes;
	p.in.node_count = 3;
	metrics_round(m, &p, &out, false);
	CHECK(metrics_set_config(m, &swapped) == 0, "swap the order");
	text = render(m);
	CHECK(text && strstr(text, "type=\"beta\",state=\"current\"} 1\n") &&
	      strstr(text, "type=\"beta\",state=\"pending\"} 1\n") &&
	      strstr(text, "type=\"alpha\",state=\"current\"} 1\n") &&
	      strstr(text, "type=\"alpha\",state=\"pending\"} 0\n"),
	      "workers per group after growing and swapping:\n%s", text ? text : "(null)");
	free(text);
	metrics_free(m);
	config_free(&none);
	config_free(&two);
	config_free(&swapped);
}

/* A provider whose groups op answers with a copy of *g_groups (NULL = -EAGAIN). */
static const struct controller_config *g_groups;

static int fp_groups(struct provider *p, struct controller_config *out)
{
	char notes[256] = "";
	struct controller_config none;

	(void)p;
	if (!g_groups)
		return -EAGAIN;
	config_init(&none);
	none.upscaling_speed = none.idle_timeout_s = -1;
	return kuberay_spec_merge(g_groups, &none, out, notes, sizeof(notes));
}

static const struct provider_ops fp_ops = { .name = "fake", .groups = fp_groups };

static void test_group_set(void)
{
	struct controller_config initial, c1, c2;
	const struct controller_config *active = &initial, *before;
	struct provider prov = { &fp_ops, NULL };
	struct actuator_deps deps = { 0 };
	struct controller_metrics *m;
	struct group_set gs;
	struct actuator a;
	struct group_followers f = { 0 };

	config_init(&initial);
	two_groups(&c1, "alpha", "beta");
	two_groups(&c2, "beta", NULL);
	m = metrics_new(&initial);
	deps.config = &initial;
	CHECK(actuator_init(&a, &deps) == 0, "actuator");
	group_set_init(&gs);
	f.metrics = m;
	f.act = &a;
	g_groups = NULL;
	CHECK(group_set_sync(&gs, &prov, &f, &active) == -EAGAIN && active == &initial,
	      "no groups yet: wait");
	g_groups = &c1;
	CHECK(group_set_sync(&gs, &prov, &f, &active) == 0 && config_equal(active, &c1) &&
	      a.d.config == active, "first set taken");
	a.last_launch_at[1] = 42;	/* beta */
	metrics_launch(m, 1);
	before = active;
	CHECK(group_set_sync(&gs, &prov, &f, &active) == 0 && active == before,
	      "same set: no swap");
	g_groups = &c2;
	CHECK(group_set_sync(&gs, &prov, &f, &active) == 0 && config_equal(active, &c2) &&
	      active != before && a.last_launch_at[0] == 42, "beta moved to 0, its state followed");
	g_groups = NULL;
	CHECK(group_set_sync(&gs, &prov, &f, &active) == 0 && config_equal(active, &c2),
	      "a failing provider keeps the last set");
	actuator_fini(&a);
	metrics_free(m);
	group_set_free(&gs);
	config_free(&c1);
	config_free(&c2);
}

int main(void)
{
	test_platform_table();
	test_platform_merge();
	test_platform_config();
	test_metrics_grow_from_no_group();
	test_group_table();
	test_cluster_options();
	test_merge();
	test_state_follows_names();
	test_group_set();
	CHECK_EXIT();
}
