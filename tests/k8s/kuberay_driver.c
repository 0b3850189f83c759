/* kuberay_driver.c -- test driver for the kuberay provider and Lease leader
 * election against the real control plane (tests/k8s/test_kuberay_provider.py).
 *
 * It stands in for the controller's planner, which is tested elsewhere
 * (tests/golden, tests/unit/test_planner.c): instead of Ray demand it reads a
 * targets file, {"<group>": {"replicas": N, "terminate": ["pod", ...]}}, and
 * calls the provider exactly as the control loop does -- launch() until the
 * provider's node list (pods + in-flight placeholders, stopping ones
 * excluded) reaches N, terminate() for the named pods -- then refresh() once
 * per tick.  Only the Lease holder acts; on losing the lease it drops the
 * provider (and its queued intent); SIGTERM releases the lease.  Each tick it
 * writes a status file (JSON) the test reads.
 *
 * Built by the test itself (cc + the project's static libraries) so the
 * shared CMake files need no change. */
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/cli.h"
#include "common/log.h"
#include "controller/provider/kube_client.h"
#include "controller/provider/leader.h"
#include "controller/provider/provider_kuberay.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct driver {
	const char *targets_path, *status_path, *identity;
	struct provider_kuberay_config pcfg;
	struct provider prov;
	bool have_provider;
	long launch_calls, terminate_calls, launch_refused;
};

static int count_group(struct provider *p, const char *group)
{
	const struct provider_node *nodes;
	size_t n = p->ops->list(p, &nodes);
	int count = 0;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(nodes[i].type, group) && nodes[i].stop_requested_at == 0)
			count++;
	return count;
}

static void apply_group(struct driver *d, const cJSON *spec, const char *group)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "replicas"), *t;
	char err[PROVIDER_ERR_LEN], id[PROVIDER_ID_MAX];
	struct worker_group wg = { 0 };

	snprintf(wg.name, sizeof(wg.name), "%s", group);
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(spec, "terminate")) {
		if (!cJSON_IsString(t))
			continue;
		if (d->prov.ops->terminate(&d->prov, t->valuestring, err))
			rs_warn("terminate %s: %s", t->valuestring, err);
		else
			d->terminate_calls++;
	}
	if (!cJSON_IsNumber(r))
		return;
	for (int have = count_group(&d->prov, group); have < (int)r->valuedouble; have++) {
		if (d->prov.ops->launch(&d->prov, &wg, id, err)) {
			d->launch_refused++;
			rs_warn("launch %s: %s", group, err);
			break;
		}
		d->launch_calls++;
	}
}

static void apply_targets(struct driver *d)
{
	struct rs_json_error jerr;
	cJSON *root, *g;
	char *buf;
	size_t len;

	if (rs_read_file(d->targets_path, 1 << 20, &buf, &len))
		return;
	if (rs_json_parse(buf, len, &root, &jerr)) {
		rs_warn("targets: %s", jerr.msg);
		free(buf);
		return;
	}
	free(buf);
	cJSON_ArrayForEach(g, root)
		apply_group(d, g, g->string);
	cJSON_Delete(root);
}

static void write_status(struct driver *d, struct leader *le, bool leading)
{
	cJSON *o = cJSON_CreateObject();
	char tmp[4200];
	char *text;
	FILE *f;

	cJSON_AddStringToObject(o, "identity", d->identity);
	cJSON_AddBoolToObject(o, "leading", leading);
	cJSON_AddNumberToObject(o, "acquisitions", le ? le->acquisitions : 0);
	cJSON_AddNumberToObject(o, "launch_calls", d->launch_calls);
	cJSON_AddNumberToObject(o, "terminate_calls", d->terminate_calls);
	if (d->have_provider)
		cJSON_AddItemToObject(o, "provider", provider_kuberay_status_json(&d->prov));
	text = cJSON_Print(o);
	cJSON_Delete(o);
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->status_path);
	f = fopen(tmp, "w");
	if (f && text) {
		fputs(text, f);
		fclose(f);
		rename(tmp, d->status_path);
	} else if (f) {
		fclose(f);
	}
	free(text);
}

/* Provider status counters accumulate per provider instance; keep the
 * totals across leadership changes in the status via a fresh provider only
 * when we (re)gain the lease. */
static int tick(struct driver *d, struct leader *le, double now)
{
	bool leading = le ? leader_tick(le, now) : true;
	char err[PROVIDER_ERR_LEN];

	if (!leading) {
		if (d->have_provider) {
			rs_warn("%s: not the leader any more; dropping queued intent", d->identity);
			d->prov.ops->destroy(&d->prov);
			d->have_provider = false;
		}
		write_status(d, le, false);
		return 0;
	}
	if (!d->have_provider) {
		if (provider_kuberay_create(&d->pcfg, &d->prov, err)) {
			rs_error("kuberay provider: %s", err);
			return -EINVAL;
		}
		d->have_provider = true;
	}
	d->prov.ops->refresh(&d->prov, now);
	apply_targets(d);
	write_status(d, le, true);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "raycluster", required_argument, NULL, 'r' },
		{ "targets", required_argument, NULL, 't' },
		{ "status", required_argument, NULL, 's' },
		{ "leader-elect", no_argument, NULL, 'L' },
		{ "lease-name", required_argument, NULL, 'l' },
		{ "identity", required_argument, NULL, 'i' },
		{ "lease-duration", required_argument, NULL, 'D' },
		{ "renew-deadline", required_argument, NULL, 'R' },
		{ "retry-period", required_argument, NULL, 'P' },
		{ "interval", required_argument, NULL, 'I' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ 0 },
	};
	struct leader_config lc = { 0 };
	struct driver d = { 0 };
	struct kube_client kube;
	struct leader le;
	const char *kubeconfig = NULL, *ns = NULL;
	char err[KUBE_ERR_LEN];
	double interval = 0.5;
	long timeout_ms = 3000;
	bool elect = false;
	int c;

	d.identity = "driver";
	lc.name = "raysense-controller";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': kubeconfig = optarg; break;
		case 'n': ns = optarg; break;
		case 'r': d.pcfg.raycluster = optarg; break;
		case 't': d.targets_path = optarg; break;
		case 's': d.status_path = optarg; break;
		case 'L': elect = true; break;
		case 'l': lc.name = optarg; break;
		case 'i': d.identity = optarg; break;
		case 'D': lc.lease_duration_s = atof(optarg); break;
		case 'R': lc.renew_deadline_s = atof(optarg); break;
		case 'P': lc.retry_period_s = atof(optarg); break;
		case 'I': interval = atof(optarg); break;
		case 'T': timeout_ms = atol(optarg); break;
		default: return 2;
		}
	}
	if (!kubeconfig || !d.pcfg.raycluster || !d.targets_path || !d.status_path) {
		fprintf(stderr, "usage: kuberay_driver --kubeconfig F --raycluster RC --targets F "
				"--status F [--namespace NS] [--leader-elect --identity ID ...]\n");
		return 2;
	}
	rs_log_init("kuberay-driver", RS_LOG_INFO);
	rs_http_global_init();
	if (kube_client_from_kubeconfig(&kube, kubeconfig, NULL, err)) {
		rs_error("%s", err);
		return 1;
	}
	kube.timeout_ms = timeout_ms;
	d.pcfg.kube = &kube;
	d.pcfg.ns = ns;
	d.pcfg.backoff_max_s = 4;
	lc.kube = &kube;
	lc.ns = ns ? ns : kube.ns;
	lc.identity = d.identity;
	if (elect && leader_init(&le, &lc, err)) {
		rs_error("%s", err);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		if (tick(&d, elect ? &le : NULL, mono_now()))
			break;
		usleep((useconds_t)(interval * 1e6));
	}
	if (elect) {
		if (leader_release(&le))
			rs_warn("could not release the lease: %s", le.last_error);
		write_status(&d, &le, false);
		leader_free(&le);
	}
	if (d.have_provider)
		d.prov.ops->destroy(&d.prov);
	kube_client_free(&kube);
	return 0;
}
