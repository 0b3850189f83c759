/* test_kuberay.c -- unit tests for the kuberay provider's pure parts: the
 * Kubernetes quantity parser, Ray node-type derivation from worker groups,
 * RayCluster/PodList parsing, JSON Patch construction, Lease records and
 * MicroTime, kubeconfig/in-cluster configuration (including bad input),
 * base64 and URL escaping, and leader-election timing validation. */
#include "check.h"

#include "common/http_client.h"
#include "common/http_server.h"
#include "common/json_util.h"
#include "controller/provider/kube_client.h"
#include "controller/provider/kube_quantity.h"
#include "controller/provider/leader.h"
#include "controller/provider/kuberay_node_type.h"
#include "controller/provider/provider_kuberay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_quantity(void)
{
	static const struct { const char *in; double want; } good[] = {
		{ "1", 1 }, { "500m", 0.5 }, { "1500m", 1.5 }, { "2Gi", 2147483648.0 },
		{ "4Ki", 4096 }, { "1Mi", 1048576 }, { "1G", 1e9 }, { "1.5", 1.5 },
		{ "0.5Gi", 536870912.0 }, { "1e3", 1000 }, { "1E-3", 0.001 }, { "100u", 1e-4 },
		{ "3n", 3e-9 }, { "2k", 2000 }, { "+2", 2 }, { "0", 0 }, { ".5", 0.5 },
		{ "2Ti", 2199023255552.0 }, { "1M", 1e6 },
	};
	static const char *const bad[] = {
		"", "m", "Gi", "1 Gi", " 1", "1.2.3", "1KiB", "1gi", "abc", "1e", "1e3.5",
		"1x", "--1", "1.", "1e99", "0x10", "1 ",
	};
	char err[160];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		double v = -1;
		int rc = kube_quantity_parse(good[i].in, &v, err, sizeof(err));

		CHECK(rc == 0 && fabs(v - good[i].want) <= 1e-12 * fmax(1, fabs(good[i].want)),
		      "'%s' -> rc %d v %.12g want %.12g (%s)", good[i].in, rc, v, good[i].want, err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double v = 0;

		err[0] = '\0';
		/* "1." is accepted by Kubernetes too; only count real rejects */
		if (!strcmp(bad[i], "1."))
			continue;
		CHECK(kube_quantity_parse(bad[i], &v, err, sizeof(err)) == -EINVAL && err[0],
		      "'%s' should be refused (v=%g)", bad[i], v);
	}
	CHECK(kube_quantity_ceil(1.0000000000001) == 1, "round-off stays 1");
	CHECK(kube_quantity_ceil(1.5) == 2, "1.5 rounds up");
	CHECK(kube_quantity_ceil(0.001) == 1, "1m rounds up to 1");
	CHECK(kube_quantity_ceil(0) == 0, "0 stays 0");
}

struct type_case {
	const char *name;
	const char *group;	/* JSON */
	const char *want;	/* JSON resources, or NULL = error */
	const char *err_has;
};

static const struct type_case type_cases[] = {
	{ "rayStartParams first",
	  "{\"rayStartParams\":{\"num-cpus\":\"3\",\"num-gpus\":\"1\",\"memory\":\"1000\"},"
	  "\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"8\","
	  "\"memory\":\"16Gi\",\"nvidia.com/gpu\":\"2\"}}}]}}}",
	  "{\"CPU\":3,\"GPU\":1,\"memory\":1000}", NULL },
	{ "limits before requests",
	  "{\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"2\","
	  "\"memory\":\"4Gi\"},\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]}}}",
	  "{\"CPU\":2,\"memory\":4294967296}", NULL },
	{ "requests when no limits, rounded up",
	  "{\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1500m\","
	  "\"memory\":\"1.5Gi\"}}}]}}}",
	  "{\"CPU\":2,\"memory\":1610612736}", NULL },
	{ "gpu from limits key ending in gpu",
	  "{\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"4\","
	  "\"nvidia.com/gpu\":\"1\"}}}]}}}",
	  "{\"CPU\":4,\"GPU\":1}", NULL },
	{ "zero gpu is absent",
	  "{\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"4\","
	  "\"nvidia.com/gpu\":\"0\"}}}]}}}",
	  "{\"CPU\":4}", NULL },
	{ "head with num-cpus 0",
	  "{\"rayStartParams\":{\"num-cpus\":\"0\"},\"template\":{\"spec\":{\"containers\":"
	  "[{\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"2Gi\"}}}]}}}",
	  "{\"CPU\":0,\"memory\":2147483648}", NULL },
	{ "custom resources, Ray quoting",
	  "{\"rayStartParams\":{\"num-cpus\":\"1\",\"resources\":\"\\\"{\\\\\\\"custom_x\\\\\\\": 2,"
	  " \\\\\\\"TPU\\\\\\\": 4}\\\"\"},\"template\":{\"spec\":{\"containers\":[{}]}}}",
	  "{\"CPU\":1,\"custom_x\":2,\"TPU\":4}", NULL },
	{ "group resources map overrides (KubeRay >= 1.5)",
	  "{\"rayStartParams\":{\"num-cpus\":\"1\"},\"resources\":{\"CPU\":\"6\",\"special\":\"1\"},"
	  "\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"2\"}}}]}}}",
	  "{\"CPU\":6,\"special\":1}", NULL },
	{ "no cpu anywhere",
	  "{\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}]}}}",
	  NULL, "cannot derive CPU" },
	{ "no containers",
	  "{\"template\":{\"spec\":{}}}", NULL, "containers[0]" },
	{ "fractional num-cpus (Ray does int())",
	  "{\"rayStartParams\":{\"num-cpus\":\"1.5\"},\"template\":{\"spec\":{\"containers\":[{}]}}}",
	  NULL, "whole number" },
	{ "bad quantity",
	  "{\"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"two\"}}}]}}}",
	  NULL, "limits.cpu" },
	{ "custom resources not JSON",
	  "{\"rayStartParams\":{\"num-cpus\":\"1\",\"resources\":\"{x}\"},\"template\":{\"spec\":"
	  "{\"containers\":[{}]}}}", NULL, "rayStartParams.resources" },
	{ "custom resources fractional",
	  "{\"rayStartParams\":{\"num-cpus\":\"1\",\"resources\":\"'{\\\"a\\\": 0.5}'\"},"
	  "\"template\":{\"spec\":{\"containers\":[{}]}}}", NULL, "whole number" },
	{ "rayStartParams not an object",
	  "{\"rayStartParams\":[],\"template\":{\"spec\":{\"containers\":[{}]}}}", NULL,
	  "not an object" },
};

static void test_node_types(void)
{
	for (size_t i = 0; i < sizeof(type_cases) / sizeof(type_cases[0]); i++) {
		const struct type_case *tc = &type_cases[i];
		struct resmap got = { 0 }, want = { 0 };
		struct rs_json_error jerr;
		cJSON *g = cJSON_Parse(tc->group), *w;
		char err[200] = "";
		int rc;

		CHECK(g != NULL, "%s: test JSON does not parse", tc->name);
		if (!g)
			continue;
		rc = kuberay_node_type(g, &got, err, sizeof(err));
		if (tc->want) {
			w = cJSON_Parse(tc->want);
			CHECK(w && !resmap_from_json(&want, w, "$", true, &jerr), "%s: want", tc->name);
			CHECK(rc == 0 && resmap_equal(&got, &want), "%s: rc %d err '%s' got %s", tc->name,
			      rc, err, cJSON_PrintUnformatted(resmap_to_json(&got)));
			cJSON_Delete(w);
		} else {
			CHECK(rc == -EINVAL && strstr(err, tc->err_has), "%s: rc %d err '%s'", tc->name,
			      rc, err);
		}
		resmap_free(&got);
		resmap_free(&want);
		cJSON_Delete(g);
	}
}

static const char RAYCLUSTER[] =
	"{\"metadata\":{\"name\":\"rc\",\"resourceVersion\":\"42\"},\"spec\":{"
	"\"headGroupSpec\":{\"rayStartParams\":{\"num-cpus\":\"0\"}},"
	"\"workerGroupSpecs\":["
	"{\"groupName\":\"cpu\",\"replicas\":2,\"minReplicas\":1,\"maxReplicas\":5,"
	" \"template\":{\"spec\":{\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"4\"}}}]}}},"
	"{\"groupName\":\"eci\",\"minReplicas\":0,\"maxReplicas\":3,"
	" \"scaleStrategy\":{\"workersToDelete\":[\"rc-eci-worker-aaaaa\"]},"
	" \"template\":{\"metadata\":{\"labels\":{\"alibabacloud.com/eci\":\"true\"}},"
	" \"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"500m\"}}}]}}},"
	"{\"groupName\":\"broken\",\"maxReplicas\":1,\"template\":{\"spec\":{\"containers\":[{}]}}}"
	"]}}";

static void test_raycluster(void)
{
	static const char *const bad[] = {
		"", "[]", "{\"spec\":1}", "{}", "{\"spec\":{\"workerGroupSpecs\":{}}}",
		"{\"spec\":{\"workerGroupSpecs\":[{\"replicas\":1}]}}",
		"{\"spec\":{\"workerGroupSpecs\":[{\"groupName\":\"\"}]}}", "{\"spec\":{", "nope",
	};
	struct kuberay_group *gs;
	char err[300];
	size_t n;

	CHECK(kuberay_parse_raycluster(RAYCLUSTER, strlen(RAYCLUSTER), &gs, &n, err, sizeof(err)) == 0,
	      "parse: %s", err);
	CHECK(n == 3, "3 worker groups, head excluded (got %zu)", n);
	if (n == 3) {
		CHECK(!strcmp(gs[0].name, "cpu") && gs[0].index == 0 && gs[0].replicas == 2 &&
		      gs[0].replicas_present && gs[0].min_replicas == 1 && gs[0].max_replicas == 5 &&
		      !gs[0].eci && gs[0].type_ok && gs[0].wtd_count == 0, "cpu group");
		CHECK(!strcmp(gs[1].name, "eci") && gs[1].index == 1 && !gs[1].replicas_present &&
		      gs[1].replicas == 0 && gs[1].eci && gs[1].wtd_count == 1 &&
		      !strcmp(gs[1].workers_to_delete[0], "rc-eci-worker-aaaaa") &&
		      resmap_get(&gs[1].node_type, "CPU", -1) == 1, "eci group");
		CHECK(!gs[2].type_ok && strstr(gs[2].type_error, "CPU") &&
		      gs[2].max_replicas == 1 && gs[2].num_of_hosts == 1,
		      "broken group is kept but marked: '%s'", gs[2].type_error);
	}
	kuberay_groups_free(gs, n);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(kuberay_parse_raycluster(bad[i], strlen(bad[i]), &gs, &n, err, sizeof(err)) ==
			      -EINVAL && err[0], "bad RayCluster '%s' accepted", bad[i]);
	}
}

static const char PODS[] =
	"{\"items\":["
	"{\"metadata\":{\"name\":\"rc-head-x\",\"labels\":{\"ray.io/node-type\":\"head\"}}},"
	"{\"metadata\":{\"name\":\"rc-eci-worker-a\",\"creationTimestamp\":\"2026-11-27T07:00:00Z\","
	" \"labels\":{\"ray.io/node-type\":\"worker\",\"ray.io/group\":\"eci\"}},"
	" \"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.2.1\",\"hostIP\":\"172.16.0.20\","
	" \"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":"
	"\"2026-11-27T07:00:01Z\"},{\"type\":\"ContainersReady\",\"status\":\"True\","
	"\"lastTransitionTime\":\"2026-11-27T07:00:04Z\"}]}},"
	"{\"metadata\":{\"name\":\"rc-eci-worker-b\",\"deletionTimestamp\":\"2026-11-27T07:01:00Z\","
	" \"labels\":{\"ray.io/node-type\":\"worker\",\"ray.io/group\":\"eci\"}},"
	" \"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"ContainersReady\","
	"\"status\":\"False\",\"lastTransitionTime\":\"2026-11-27T07:00:04Z\"}]}}"
	"]}";

static void test_pods(void)
{
	struct kuberay_pod *pods;
	char err[300];
	size_t n;

	CHECK(kuberay_parse_pods(PODS, strlen(PODS), &pods, &n, err, sizeof(err)) == 0, "%s", err);
	CHECK(n == 2, "only workers (got %zu)", n);
	if (n == 2) {
		CHECK(!strcmp(pods[0].name, "rc-eci-worker-a") && !strcmp(pods[0].group, "eci") &&
		      !strcmp(pods[0].ip, "10.244.2.1") && !strcmp(pods[0].host_ip, "172.16.0.20") &&
		      !pods[0].deleting, "pod a fields");
		CHECK(pods[0].scheduled - pods[0].created == 1 && pods[0].ready - pods[0].scheduled == 3,
		      "pod a timeline %f %f %f", pods[0].created, pods[0].scheduled, pods[0].ready);
		CHECK(pods[1].deleting && pods[1].ready == 0 && !strcmp(pods[1].phase, "Pending"),
		      "pod b: deleting, not ready (condition False)");
	}
	free(pods);
	CHECK(kuberay_parse_pods("{}", 2, &pods, &n, err, sizeof(err)) == -EINVAL, "no items");
	CHECK(kuberay_parse_pods("{\"items\":[{\"metadata\":{}}]}", 27, &pods, &n, err, sizeof(err)) ==
		      -EINVAL, "pod without name");
	CHECK(kuberay_parse_pods("{\"items\":[", 10, &pods, &n, err, sizeof(err)) == -EINVAL,
	      "truncated");
}

/* A worker pod "w" created at 07:00:00 with this status. */
#define POD_WITH(status) \
	"{\"items\":[{\"metadata\":{\"name\":\"w\",\"creationTimestamp\":" \
	"\"2026-11-27T07:00:00Z\",\"labels\":{\"ray.io/node-type\":\"worker\"," \
	"\"ray.io/group\":\"g\"}},\"status\":" status "}]}"
#define UNSCHED_COND(extra) \
	"{\"type\":\"PodScheduled\",\"status\":\"False\",\"reason\":\"Unschedulable\"" extra "}"
#define AFFINITY "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."

/* PodScheduled False/Unschedulable marks the pod unplaceable (since its
 * lastTransitionTime, else the creation; the message kept short); anything
 * else -- scheduled, missing, null, garbage, another reason, a preemption
 * under way -- does not, and never fails the list. */
static void test_pod_unschedulable(void)
{
	static const struct {
		const char *what, *body;
		double since;		/* - 07:00:00; < 0 = not unschedulable */
		const char *msg;	/* expected message prefix */
	} cases[] = {
		{ "unschedulable", POD_WITH("{\"phase\":\"Pending\",\"conditions\":["
			UNSCHED_COND(",\"lastTransitionTime\":\"2026-11-27T07:00:02Z\","
				     "\"message\":\"" AFFINITY "\"") "]}"), 2, AFFINITY },
		{ "no transition time: since creation", POD_WITH("{\"conditions\":["
			UNSCHED_COND("") "]}"), 0, "" },
		{ "garbage transition time", POD_WITH("{\"conditions\":["
			UNSCHED_COND(",\"lastTransitionTime\":\"yesterday\",\"message\":7") "]}"),
		  0, "" },
		{ "after other conditions", POD_WITH("{\"conditions\":[null,5,\"x\",[],"
			"{\"type\":\"Ready\",\"status\":\"False\"},"
			UNSCHED_COND(",\"lastTransitionTime\":\"2026-11-27T07:00:09Z\","
				     "\"message\":\"line1\\nline2\"") "]}"), 9, "line1 line2" },
		{ "scheduled", POD_WITH("{\"conditions\":[{\"type\":\"PodScheduled\","
			"\"status\":\"True\",\"lastTransitionTime\":\"2026-11-27T07:00:01Z\"}]}"),
		  -1, "" },
		{ "scheduled after all (True wins)", POD_WITH("{\"conditions\":["
			"{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":"
			"\"2026-11-27T07:00:01Z\"}," UNSCHED_COND("") "]}"), -1, "" },
		{ "another reason (gated)", POD_WITH("{\"conditions\":[{\"type\":\"PodScheduled\","
			"\"status\":\"False\",\"reason\":\"SchedulingGated\"}]}"), -1, "" },
		{ "status Unknown", POD_WITH("{\"conditions\":[{\"type\":\"PodScheduled\","
			"\"status\":\"Unknown\",\"reason\":\"Unschedulable\"}]}"), -1, "" },
		{ "preemption under way", POD_WITH("{\"nominatedNodeName\":\"n1\",\"conditions\":["
			UNSCHED_COND("") "]}"), -1, "" },
		{ "empty nominated node", POD_WITH("{\"nominatedNodeName\":\"\",\"conditions\":["
			UNSCHED_COND("") "]}"), 0, "" },
		{ "no conditions", POD_WITH("{\"phase\":\"Pending\"}"), -1, "" },
		{ "conditions null", POD_WITH("{\"conditions\":null}"), -1, "" },
		{ "conditions a string", POD_WITH("{\"conditions\":\"Unschedulable\"}"), -1, "" },
		{ "conditions an object", POD_WITH("{\"conditions\":" UNSCHED_COND("") "}"), -1, "" },
		{ "type not a string", POD_WITH("{\"conditions\":[{\"type\":1,\"status\":\"False\","
			"\"reason\":\"Unschedulable\"}]}"), -1, "" },
		{ "reason null", POD_WITH("{\"conditions\":[{\"type\":\"PodScheduled\","
			"\"status\":\"False\",\"reason\":null}]}"), -1, "" },
		{ "status null", POD_WITH("null"), -1, "" },
		{ "status a list", POD_WITH("[" UNSCHED_COND("") "]"), -1, "" },
	};
	struct kuberay_pod *pods;
	char err[300];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CHECK(kuberay_parse_pods(cases[i].body, strlen(cases[i].body), &pods, &n, err,
					 sizeof(err)) == 0 && n == 1, "%s: %s", cases[i].what, err);
		if (n != 1)
			continue;
		if (cases[i].since < 0)
			CHECK(pods[0].unschedulable_since == 0 && !pods[0].unschedulable[0],
			      "%s: not unschedulable (%f)", cases[i].what, pods[0].unschedulable_since);
		else
			CHECK(pods[0].unschedulable_since - pods[0].created == cases[i].since &&
			      pods[0].created > 0 && !strncmp(pods[0].unschedulable, cases[i].msg,
							     strlen(cases[i].msg)),
			      "%s: since +%g '%s'", cases[i].what,
			      pods[0].unschedulable_since - pods[0].created, pods[0].unschedulable);
		free(pods);
	}
}

/* A long scheduler message is cut at a character boundary, one line. */
static void test_pod_unschedulable_message(void)
{
	char body[2048], msg[600] = "";
	struct kuberay_pod *pods;
	char err[300];
	size_t n, len;

	for (int i = 0; i < 150; i++)
		strcat(msg, "\xc3\xa9");	/* U+00E9, 2 bytes */
	snprintf(body, sizeof(body), POD_WITH("{\"conditions\":[" UNSCHED_COND(",\"message\":\"%s\"")
					      "]}"), msg);
	CHECK(kuberay_parse_pods(body, strlen(body), &pods, &n, err, sizeof(err)) == 0 && n == 1,
	      "%s", err);
	if (n != 1)
		return;
	len = strlen(pods[0].unschedulable);
	CHECK(len > 0 && len < PROVIDER_WHY_MAX && len % 2 == 0,
	      "cut to %zu bytes, whole characters", len);
	free(pods);
}

/* doc (freed here) must be the JSON patch want. */
static void check_patch(char *doc, const char *want_json, const char *what)
{
	cJSON *d = doc ? cJSON_Parse(doc) : NULL, *want = cJSON_Parse(want_json);

	CHECK(want, "%s: the expected document parses", what);
	CHECK(d && want && cJSON_Compare(d, want, true), "%s: %s", what, doc ? doc : "(null)");
	cJSON_Delete(d);
	cJSON_Delete(want);
	free(doc);
}

static void test_patch_documents(void)
{
	const char *victims[] = { "rc-eci-worker-a", "rc-eci-worker-b" };

	check_patch(kuberay_patch_document(1, "eci", 3, 1, victims, 2, true),
		"[{\"op\":\"test\",\"path\":\"/spec/workerGroupSpecs/1/groupName\",\"value\":\"eci\"},"
		"{\"op\":\"test\",\"path\":\"/spec/workerGroupSpecs/1/replicas\",\"value\":3},"
		"{\"op\":\"replace\",\"path\":\"/spec/workerGroupSpecs/1/replicas\",\"value\":1},"
		"{\"op\":\"add\",\"path\":\"/spec/workerGroupSpecs/1/scaleStrategy\",\"value\":"
		"{\"workersToDelete\":[\"rc-eci-worker-a\",\"rc-eci-worker-b\"]}}]", "scale-down doc");
	check_patch(kuberay_patch_document(0, "cpu", 2, 4, NULL, 0, false),
		"[{\"op\":\"test\",\"path\":\"/spec/workerGroupSpecs/0/groupName\",\"value\":\"cpu\"},"
		"{\"op\":\"test\",\"path\":\"/spec/workerGroupSpecs/0/replicas\",\"value\":2},"
		"{\"op\":\"replace\",\"path\":\"/spec/workerGroupSpecs/0/replicas\",\"value\":4}]",
		"scale-up doc");
	/* replicas absent: add without a test; clear = empty list */
	check_patch(kuberay_patch_document(2, "g", -1, 0, NULL, 0, true),
		"[{\"op\":\"test\",\"path\":\"/spec/workerGroupSpecs/2/groupName\",\"value\":\"g\"},"
		"{\"op\":\"add\",\"path\":\"/spec/workerGroupSpecs/2/replicas\",\"value\":0},"
		"{\"op\":\"add\",\"path\":\"/spec/workerGroupSpecs/2/scaleStrategy\",\"value\":"
		"{\"workersToDelete\":[]}}]", "clear doc");
}

static void test_lease(void)
{
	static const char *const bad_times[] = {
		"", "2026-11-27", "2026-11-27T07:00:00", "2026-11-27T07:00:00.Z",
		"2026-11-27T07:00:00.1234567890Z", "2026-11-27T07:00:00Zjunk", "2026-11-27T07:00:00+0100",
	};
	struct lease_record r = { .duration_s = 15, .transitions = 3 }, back;
	char ts[64], rv[64], err[KUBE_ERR_LEN];
	double t;
	char *json;

	CHECK(lease_time_format(1795765412.5, ts, sizeof(ts)) == 0 &&
	      !strcmp(ts, "2026-11-27T07:43:32.500000Z"), "format: %s", ts);
	CHECK(lease_time_parse("2026-11-27T07:43:32.500000Z", &t) == 0 && t == 1795765412.5, "parse");
	CHECK(lease_time_parse("2026-11-27T08:43:32+01:00", &t) == 0 && t == 1795765412.0,
	      "offset: %f", t);
	CHECK(lease_time_parse("2026-11-27T07:43:32Z", &t) == 0 && t == 1795765412.0, "no fraction");
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
		CHECK(lease_time_parse(bad_times[i], &t) == -EINVAL, "bad time '%s' accepted", bad_times[i]);

	snprintf(r.holder, sizeof(r.holder), "pod-a");
	r.acquire_time = 1795765400.123456;
	r.renew_time = 1795765412.000001;
	json = lease_record_encode(&r, "ray", "raysense-controller", "77");
	CHECK(json && strstr(json, "\"renewTime\":\"2026-11-27T07:43:32.000001Z\"") &&
	      strstr(json, "\"resourceVersion\":\"77\"") && strstr(json, "\"leaseTransitions\":3"),
	      "encode: %s", json);
	CHECK(lease_record_decode(json, strlen(json), &back, rv, sizeof(rv), err) == 0, "%s", err);
	CHECK(!strcmp(back.holder, "pod-a") && back.duration_s == 15 && back.transitions == 3 &&
	      fabs(back.acquire_time - r.acquire_time) < 1e-6 &&
	      fabs(back.renew_time - r.renew_time) < 1e-6 && !strcmp(rv, "77"), "round trip");
	free(json);
	json = lease_record_encode(&r, "ray", "l", NULL);
	CHECK(json && !strstr(json, "resourceVersion"), "create has no resourceVersion");
	free(json);

	/* a Lease with no spec: nobody holds it */
	CHECK(lease_record_decode("{\"metadata\":{\"resourceVersion\":\"1\"}}", 36, &back, rv,
				  sizeof(rv), err) == 0 && back.holder[0] == '\0', "empty lease");
	CHECK(lease_record_decode("{\"metadata\":{}}", 15, &back, rv, sizeof(rv), err) == -EINVAL,
	      "no resourceVersion");
	CHECK(lease_record_decode("{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{\"renewTime\":"
				  "\"yesterday\"}}", 69, &back, rv, sizeof(rv), err) == -EINVAL &&
	      strstr(err, "renewTime"), "bad renewTime: %s", err);
	CHECK(lease_record_decode("{\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{"
				  "\"leaseDurationSeconds\":\"15\"}}", 73, &back, rv, sizeof(rv),
				  err) == -EINVAL, "duration as string");
	CHECK(lease_record_decode("not json", 8, &back, rv, sizeof(rv), err) == -EINVAL, "not json");
}

static void test_leader_timing(void)
{
	struct kube_client kc = { 0 };
	struct leader le;
	char err[KUBE_ERR_LEN];
	struct leader_config ok = { &kc, "ray", "l", "me", 15, 10, 2 };
	struct leader_config bad1 = { &kc, "ray", "l", "me", 10, 10, 2 };
	struct leader_config bad2 = { &kc, "ray", "l", "me", 15, 2, 2 };
	struct leader_config noid = { &kc, "ray", "l", "", 15, 10, 2 };
	struct leader_config dflt = { &kc, "ray", "l", "me", 0, 0, 0 };

	CHECK(leader_init(&le, &ok, err) == 0, "%s", err);
	leader_free(&le);
	CHECK(leader_init(&le, &dflt, err) == 0 && le.cfg.lease_duration_s == 15 &&
	      le.cfg.renew_deadline_s == 10 && le.cfg.retry_period_s == 2, "client-go defaults");
	leader_free(&le);
	CHECK(leader_init(&le, &bad1, err) == -EINVAL && strstr(err, "renew deadline"),
	      "duration must exceed deadline");
	CHECK(leader_init(&le, &bad2, err) == -EINVAL, "deadline must exceed 1.2 x retry");
	CHECK(leader_init(&le, &noid, err) == -EINVAL, "identity required");
}

static void test_base64_and_escape(void)
{
	unsigned char out[64];
	char esc[64];
	long n;

	n = kube_base64_decode("aGVsbG8=", 8, out);
	CHECK(n == 5 && !memcmp(out, "hello", 5), "hello (%ld)", n);
	n = kube_base64_decode("aGVs\nbG8h", 9, out);
	CHECK(n == 6 && !memcmp(out, "hello!", 6), "whitespace ignored");
	n = kube_base64_decode("YQ==", 4, out);
	CHECK(n == 1 && out[0] == 'a', "two pad");
	CHECK(kube_base64_decode("a$==", 4, out) == -EINVAL, "bad char");
	CHECK(kube_base64_decode("YQ==YQ", 6, out) == -EINVAL, "data after padding");
	CHECK(kube_base64_decode("Y", 1, out) == -EINVAL, "one char");
	CHECK(kube_base64_decode("YQ=", 3, out) == -EINVAL, "wrong padding");
	CHECK(kube_url_escape("ray.io/cluster=rc,a=b", esc, sizeof(esc)) == 0 &&
	      !strcmp(esc, "ray.io%2Fcluster%3Drc%2Ca%3Db"), "escape: %s", esc);
	CHECK(kube_url_escape("0123456789", esc, 8) == -ENOSPC, "too long");
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_kubeconfig(void)
{
	static const struct { const char *doc; const char *err_has; } bad[] = {
		{ "apiVersion: v1\nkind: Config\n", "not JSON" },
		{ "", "not JSON" },
		{ "{\"clusters\":[]", "kubeconfig:" },
		{ "{\"contexts\":[]}", "current-context" },
		{ "{\"current-context\":\"x\",\"contexts\":[]}", "no contexts named 'x'" },
		{ "{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":{}}]}",
		  "names no cluster" },
		{ "{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\"}}],"
		  "\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"http://127.0.0.1:80\"}}]}",
		  "https://" },
		{ "{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
		  "\"user\":\"u\"}}],\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":"
		  "\"https://127.0.0.1:6443\",\"certificate-authority-data\":\"%%%%\"}}]}",
		  "not valid base64" },
		{ "{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
		  "\"user\":\"u\"}}],\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":"
		  "\"https://127.0.0.1:6443\"}}],\"users\":[{\"name\":\"u\",\"user\":{\"exec\":{}}}]}",
		  "not supported" },
		{ "{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
		  "\"user\":\"u\"}}],\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":"
		  "\"https://127.0.0.1:6443\"}}],\"users\":[{\"name\":\"u\",\"user\":{\"client-certificate\":"
		  "\"a.crt\"}}]}",
		  "without a key" },
		{ "{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
		  "\"user\":\"u\"}}],\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":"
		  "\"https://127.0.0.1:6443\"}}],\"users\":[]}",
		  "no users named 'u'" },
	};
	static const char good[] =
		"{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\","
		"\"user\":\"u\",\"namespace\":\"ray\"}}],\"clusters\":[{\"name\":\"c\",\"cluster\":"
		"{\"server\":\"https://127.0.0.1:6443/\",\"certificate-authority-data\":\"Q0EK\"}}],"
		"\"users\":[{\"name\":\"u\",\"user\":{\"client-certificate\":\"pki/admin.crt\","
		"\"client-key-data\":\"S0VZCg==\"}}]}";
	struct kube_client c;
	char err[KUBE_ERR_LEN], tmp[64], ca[KUBE_PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(kube_client_parse_kubeconfig(&c, bad[i].doc, strlen(bad[i].doc), "/d", NULL,
						   err) == -EINVAL && strstr(err, bad[i].err_has),
		      "kubeconfig %zu: err '%s' (want '%s')", i, err, bad[i].err_has);
	}
	CHECK(kube_client_parse_kubeconfig(&c, good, strlen(good), "/etc/k", NULL, err) == 0, "%s", err);
	CHECK(!strcmp(c.server, "https://127.0.0.1:6443") && !strcmp(c.ns, "ray") &&
	      !strcmp(c.client_cert_file, "/etc/k/pki/admin.crt") && c.client_key_file[0] &&
	      c.ca_file[0] && !c.token, "good kubeconfig fields");
	snprintf(ca, sizeof(ca), "%s", c.ca_file);
	CHECK(stat(ca, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 3,
	      "CA data written to a private file");
	kube_client_free(&c);
	CHECK(stat(ca, &st) != 0, "temp CA file removed on free");
	CHECK(kube_client_from_kubeconfig(&c, "/nonexistent/kubeconfig.json", NULL, err) == -ENOENT &&
	      strstr(err, "cannot read"), "missing file: %s", err);

	/* in-cluster: env + service-account dir */
	snprintf(tmp, sizeof(tmp), "/tmp/rs-sa-XXXXXX");
	CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK(kube_client_in_cluster(&c, tmp, err) == -ENOENT && strstr(err, "KUBERNETES_SERVICE_HOST"),
	      "no env: %s", err);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	unsetenv("POD_NAMESPACE");
	CHECK(kube_client_in_cluster(&c, tmp, err) == -ENOENT, "no token file");
	{
		char p[128];

		snprintf(p, sizeof(p), "%s/token", tmp);
		write_file(p, "tok-1\n");
		snprintf(p, sizeof(p), "%s/ca.crt", tmp);
		write_file(p, "CA\n");
		snprintf(p, sizeof(p), "%s/namespace", tmp);
		write_file(p, "raysense-system\n");
	}
	CHECK(kube_client_in_cluster(&c, tmp, err) == 0, "%s", err);
	CHECK(!strcmp(c.server, "https://[fd00::1]:443") && !strcmp(c.ns, "raysense-system") &&
	      strstr(c.token_file, "/token"), "in-cluster fields: %s %s", c.server, c.ns);
	kube_client_free(&c);
	setenv("POD_NAMESPACE", "other", 1);
	CHECK(kube_client_in_cluster(&c, tmp, err) == 0 && !strcmp(c.ns, "other"), "POD_NAMESPACE wins");
	kube_client_free(&c);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		CHECK(system(cmd) == 0, "cleanup");
	}
}

/* The bearer token of a token file is re-read, but at most every
 * KUBE_TOKEN_REREAD_S: a local server echoes the Authorization header. */
static char last_auth[256];

static void echo_auth(const struct rs_http_request *req, struct rs_http_response *resp, void *ctx)
{
	(void)ctx;
	snprintf(last_auth, sizeof(last_auth), "%s", req->authorization ? req->authorization : "");
	rs_http_reply_text(resp, 200, "application/json", strdup("{}"), 2);
}

static void test_token_reread(void)
{
	static const struct rs_http_route routes[] = { { "GET", "/t", echo_auth, NULL, NULL, false } };
	struct rs_http_server_config sc = { .host = "127.0.0.1", .routes = routes, .n_routes = 1 };
	struct rs_http_server *srv = NULL;
	struct kube_client c = { 0 };
	struct kube_response r;
	char tokfile[] = "/tmp/rs-token-XXXXXX";
	int fd = mkstemp(tokfile);

	CHECK(fd >= 0 && rs_http_global_init() == 0 && rs_http_server_start(&sc, &srv) == 0,
	      "setup");
	if (fd < 0 || !srv)
		return;
	close(fd);
	snprintf(c.server, sizeof(c.server), "http://127.0.0.1:%d", rs_http_server_port(srv));
	snprintf(c.token_file, sizeof(c.token_file), "%s", tokfile);
	c.timeout_ms = 2000;
	write_file(tokfile, "first\n");
	CHECK(kube_request(&c, "GET", "/t", NULL, NULL, &r) == 0 && r.status == 200 &&
	      !strcmp(last_auth, "Bearer first"), "first token: '%s'", last_auth);
	kube_response_free(&r);
	write_file(tokfile, "second\n");
	CHECK(kube_request(&c, "GET", "/t", NULL, NULL, &r) == 0 &&
	      !strcmp(last_auth, "Bearer first"), "cached within the period: '%s'", last_auth);
	kube_response_free(&r);
	c.token_read_at -= KUBE_TOKEN_REREAD_S + 1;	/* as if a minute passed */
	CHECK(kube_request(&c, "GET", "/t", NULL, NULL, &r) == 0 &&
	      !strcmp(last_auth, "Bearer second"), "rotated token picked up: '%s'", last_auth);
	kube_response_free(&r);
	unlink(tokfile);				/* unreadable: keep the last token */
	c.token_read_at -= KUBE_TOKEN_REREAD_S + 1;
	CHECK(kube_request(&c, "GET", "/t", NULL, NULL, &r) == 0 &&
	      !strcmp(last_auth, "Bearer second"), "failed re-read keeps the token: '%s'", last_auth);
	kube_response_free(&r);
	c.server[0] = '\0';
	snprintf(c.server, sizeof(c.server), "http://127.0.0.1:1");
	CHECK(kube_request(&c, "GET", "/t", NULL, NULL, &r) < 0 && r.status == 0,
	      "connection refused is an error, not an answer");
	kube_response_free(&r);
	kube_client_free(&c);
	rs_http_server_stop(srv);
}

int main(void)
{
	test_quantity();
	test_node_types();
	test_raycluster();
	test_pods();
	test_pod_unschedulable();
	test_pod_unschedulable_message();
	test_patch_documents();
	test_lease();
	test_leader_timing();
	test_base64_and_escape();
	test_kubeconfig();
	test_token_reread();
	CHECK_EXIT();
}
