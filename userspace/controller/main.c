/* main.c -- raysense-controller entry point: flags, logging, the provider
 * (local, or kuberay with optional Lease leader election), the HTTP API,
 * then the control loop (see controller.h). */
#include "common/cli.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/util.h"
#include "controller/api.h"
#include "controller/auth/agent_auth.h"
#include "controller/config.h"
#include "controller/controller.h"
#include "controller/fusion/startup_model.h"
#include "controller/provider/kube_client.h"
#include "controller/provider/leader.h"
#include "controller/provider/provider.h"
#include "controller/provider/provider_kuberay.h"
#include "controller/source/signals.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define PROG "raysense-controller"
#define MAX_EXTRA_ARGS 32

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

#define DEFAULT_DASHBOARD "http://127.0.0.1:8265"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTIONS]\n"
		"\n"
		"Scale a Ray cluster from its logical demand (Ray autoscaler semantics),\n"
		"informed by raysense agents.\n"
		"\n"
		"Ray:\n"
		"  --dashboard URL          Ray dashboard (default " DEFAULT_DASHBOARD ";\n"
		"                           --dashboard-url is the same)\n"
		"  --dashboard-token-file F token sent as 'x-ray-authorization: Bearer <t>'\n"
		"  --dashboard-timeout-ms N per-call timeout of the reads every tick makes (default 2000)\n"
		"  --tick-budget-ms N       all reads of one tick together (default 800), so a tick\n"
		"                           stays within its second however slow the dashboard is\n"
		"  --tasks-timeout-ms N     timeout of the pending-task list, read in the background\n"
		"                           and paced by its cost (default 30000)\n"
		"  --tasks-wait-ms N        how long a tick waits for a fresh task list before it\n"
		"                           plans with the last one (default 300)\n"
		"  --demand-vector-max N    the head's AUTOSCALER_MAX_RESOURCE_DEMAND_VECTOR_SIZE\n"
		"                           (default 1000): a report past it may hide whole shapes\n"
		"  --gcs-address ADDR|off   read the pending demand per shape live from the GCS\n"
		"                           (host:port; default --ray-address if given, else the\n"
		"                           dashboard's host:6379); off = the monitor's report only\n"
		"  --tasks-max-pending N    read the task list only while the report shows at most N\n"
		"                           pending tasks (default 2000; above, it stalls the dashboard)\n"
		"Worker groups (docs/controller-config.md):\n"
		"  --config FILE            JSON config with worker_groups\n"
		"  --worker-group SPEC      NAME:CPU=1,GPU=0,<res>=N,min=0,max=4,idle=60 (repeatable)\n"
		"  --idle-timeout S         default idle timeout (default 60)\n"
		"  --upscaling-speed X      Ray's upscaling_speed (default 1000, KubeRay's default)\n"
		"  --max-workers N          global cap on worker nodes (default none)\n"
		"Local provider:\n"
		"  --provider local|kuberay local (default) or kuberay (below)\n"
		"  --ray-address ADDR       GCS address for 'ray start --address' (default 127.0.0.1:6379)\n"
		"  --ray-bin PATH           the 'ray' executable (default 'ray' in PATH)\n"
		"  --ray-start-arg ARG      extra 'ray start' argument (repeatable)\n"
		"  --state-dir DIR          provider state and node logs (default ./raysense-state)\n"
		"  --node-temp-root DIR     per-node Ray temp dirs (default /tmp/raysense-nodes; keep short)\n"
		"  --stop-grace S           SIGTERM -> SIGKILL delay (default 15)\n"
		"  --stop-nodes-on-exit     stop every launched node when the controller exits\n"
		"KubeRay provider (--provider kuberay):\n"
		"  --kubeconfig FILE        kubeconfig in JSON form (kubectl config view --raw\n"
		"                           --flatten -o json); default: in-cluster service account\n"
		"  --service-account-dir DIR\n"
		"                           in-cluster credentials from DIR/token, DIR/ca.crt and\n"
		"                           DIR/namespace instead of\n"
		"                           " KUBE_SA_DIR "\n"
		"                           (the API server is still KUBERNETES_SERVICE_HOST/PORT)\n"
		"  --namespace NS           the RayCluster's namespace (default: the config's)\n"
		"  --raycluster NAME        the RayCluster to scale (required)\n"
		"  --leader-elect           act only while holding a coordination.k8s.io Lease\n"
		"                           in --namespace (15 s lease, 10 s renew deadline, 2 s retry)\n"
		"  --lease-name NAME        Lease name (default raysense-controller)\n"
		"  --identity ID            holder identity (default: the host name)\n"
		"  --ignore-in-tree-autoscaler  act even if the RayCluster has\n"
		"                           enableInTreeAutoscaling: true (tests only: two\n"
		"                           autoscalers would fight; by default the controller holds)\n"
		"  With --provider kuberay the worker groups come from the RayCluster (min/max\n"
		"  replicas x numOfHosts, rayStartParams or container limits, idleTimeoutSeconds,\n"
		"  autoscalerOptions) and are re-read every tick; --config/--worker-group are\n"
		"  optional and may only narrow them (lower max, higher min, longer idle).\n"
		"Loop:\n"
		"  --interval S             loop interval (default 1)\n"
		"  --stale-after S          max age of the per-node usage report for scale-down (default 15)\n"
		"  --cooldown S             no scale-down of a type this long after its launch (default 10)\n"
		"  --launch-timeout S       give up on a node not ALIVE after S (default 180)\n"
		"  --scale-up-grace S       when a fetch fails, still launch from the last good\n"
		"                           answer if it is at most S old (default 5; 0 = hold all)\n"
		"  --dry-run                plan and log decisions, never launch or terminate\n"
		"  --record-trace FILE      record the demand as a replay trace (raysensectl replay;\n"
		"                           docs/replay.md); --trace-task-duration S stands for\n"
		"                           every task's run time in it (60)\n"
		"Signal fusion (docs/controller-config.md; never more nodes than the demand needs):\n"
		"  --signals on|off         use agent and startup signals (default on); off = Ray's plans\n"
		"  --keep-after-lease S     no idle stop of a node that served a lease this recently (30)\n"
		"  --reject-burst R         no idle stop while rejected+spilled-back leases/s exceed R (5)\n"
		"  --stuck-factor K         a launch not ALIVE after K x its group's p95 startup is\n"
		"                           given up and the group backed off (3)\n"
		"  --backoff S              how long a stuck group is backed off (120)\n"
		"  --startup-min-samples N  launches of a group measured (launch -> ALIVE) before\n"
		"                           its startup model sets its launch timeout and ranks it\n"
		"                           on ties (1..64; 5)\n"
		"  --unschedulable-grace S|off  a launch Unschedulable this long is given up at\n"
		"                           once when another group takes its demand (10)\n"
		"  --idle-timeout-max S     adaptive idle timeout cap; 0 = off (600)\n"
		"  --idle-beta X            adaptive idle timeout: X x the group's p90 startup (2)\n"
		"  --idle-return-window S   demand back within S s of an idle stop makes a group's\n"
		"                           idle timeout adaptive (600)\n"
		"  --listen HOST:PORT       HTTP API (default 127.0.0.1:9650)\n"
		"Agent authentication (required; docs/controller-config.md, \"Agent authentication\"):\n"
		"  --agent-auth MODE        who may POST /api/v1/signals: tokenreview (each agent's\n"
		"                           projected ServiceAccount token, checked with a\n"
		"                           TokenReview, reports only about raylets on its own\n"
		"                           node), token-file (one shared token, --token-file), or\n"
		"                           none (anyone; logged loudly).  --token-file alone\n"
		"                           means token-file\n"
		"  --token-file F           the shared bearer token of --agent-auth token-file\n"
		"  --agent-token-audience A audience of the agents' tokens (default raysense)\n"
		"  --token-review-timeout-ms N  one TokenReview call (default 2000; at most 2 at once)\n"
		"  --agent-pod-selector SEL label selector of the Ray pods whose IPs map Ray nodes to\n"
		"                           Kubernetes nodes (default ray.io/cluster=<--raycluster>,\n"
		"                           or every pod of --namespace without one)\n"
		"  tokenreview needs API credentials: --kubeconfig or the in-cluster account.\n"
		"API:\n"
		"  --probe-listen PORT|off  port of the /healthz, /readyz listener on the --listen host\n"
		"                           (default: the API port + 1); keeps answering under load\n"
		"  --http-per-ip-limit N    connections per client address (default 32)\n"
		"  --http-request-deadline-ms N  total time for one request, headers and body (5000)\n"
		"  --signal-max-age S       ignore agent hints older than S (default 30)\n"
		"  --agent-capacity N       agents whose hints are kept (default 10000); when full,\n"
		"                           one silent longer than --signal-max-age makes room\n"
		"  --max-push-rate N        pushes a second the agents are asked to stay under: with\n"
		"                           L live agents the answer to a push asks for an interval\n"
		"                           of ceil(L/N) s when over 1 s, at most 10 (default 0: never)\n"
		"  --log-level L            debug|info|warn|error (default info)\n"
		"  -h, --help               show this help\n"
		"  -V, --version            show the version\n");
}

struct args {
	const char *dashboard, *dash_token_file, *config, *address, *ray_bin, *state_dir;
	const char *gcs_address;
	const char *listen, *token_file, *node_tmp;
	const char *agent_auth, *audience, *pod_selector;
	long review_timeout_ms;
	const char *provider, *kubeconfig, *sa_dir, *k8s_namespace, *raycluster, *lease_name, *identity;
	bool leader_elect, ignore_in_tree;
	const char **group_specs;
	size_t n_group_specs;
	const char *extra[MAX_EXTRA_ARGS + 1];
	size_t n_extra;
	long dash_timeout_ms, tasks_timeout_ms, tasks_wait_ms, tasks_max_pending, agent_capacity;
	long probe_port, http_per_ip, http_deadline_ms, tick_budget_ms, demand_vector_max;
	double interval, stale_after, cooldown, launch_timeout, stop_grace, signal_max_age;
	double scale_up_grace, max_push_rate;
	struct fusion_config fusion;
	const char *record_trace;
	double trace_task_s;
	bool dry_run, stop_on_exit;
	enum rs_log_level level;
};

static double parse_secs(const char *flag, const char *v)
{
	double d;

	if (rs_parse_double(v, 0, 1e7, &d))
		rs_cli_usage_error(PROG, "bad %s '%s' (want seconds >= 0)", flag, v);
	return d;
}

enum {
	O_DASH = 256, O_DASH_TOKEN, O_DASH_TIMEOUT, O_CONFIG, O_GROUP, O_IDLE, O_SPEED, O_MAXW,
	O_PROVIDER, O_ADDRESS, O_RAYBIN, O_STARTARG, O_STATE, O_GRACE, O_STOPEXIT, O_INTERVAL,
	O_STALE, O_COOLDOWN, O_LAUNCHTO, O_DRY, O_LISTEN, O_TOKEN, O_LOG, O_NODETMP, O_SIGAGE,
	O_KUBECONFIG, O_K8S_NS, O_RAYCLUSTER, O_LEADER, O_LEASE, O_IDENTITY, O_TASKS_TIMEOUT,
	O_TASKS_WAIT, O_TASKS_MAX, O_PROBE, O_PER_IP, O_DEADLINE, O_TRACE, O_TRACE_TASK, O_GRACE_UP,
	O_TICK_BUDGET, O_VECTOR_MAX, O_SIGNALS, O_KEEP_LEASE, O_REJECT_BURST, O_STUCK, O_BACKOFF,
	O_IDLE_MAX, O_IGNORE_IN_TREE, O_AGENTCAP, O_UNSCHED, O_SA_DIR, O_AGENT_AUTH, O_AUDIENCE,
	O_REVIEW_TIMEOUT, O_POD_SELECTOR, O_PUSH_RATE, O_MIN_SAMPLES, O_GCS, O_IDLE_BETA,
	O_RETURN_WINDOW,
};

/* Where the GCS demand is read (dashboard.h gcs_address): --gcs-address,
 * else --ray-address (the local provider's GCS), else the dashboard's host
 * with Ray's default GCS port (KubeRay's head service serves both); ""
 * for off.  Bad values end the program with a usage error. */
static void gcs_address(const struct args *a, const char *dashboard, char *out, size_t size)
{
	CURLU *u;
	char *host = NULL;

	out[0] = '\0';
	if (a->gcs_address && !strcmp(a->gcs_address, "off"))
		return;
	if (a->gcs_address || a->address) {
		const char *v = a->gcs_address ? a->gcs_address : a->address;

		if (!*v || strchr(v, '/') || !strchr(v, ':') ||
		    (size_t)snprintf(out, size, "%s", v) >= size)
			rs_cli_usage_error(PROG, "bad %s '%s' (want host:port%s)",
					   a->gcs_address ? "--gcs-address" : "--ray-address", v,
					   a->gcs_address ? " or off" : "");
		return;
	}
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, dashboard, CURLU_GUESS_SCHEME) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    (size_t)snprintf(out, size, "%s:6379", host) >= size)
		rs_cli_usage_error(PROG, "cannot take the GCS host from --dashboard '%s': pass "
				   "--gcs-address", dashboard);
	curl_free(host);
	curl_url_cleanup(u);
}

/* --provider kuberay: the RayCluster gives the groups; the config only
 * narrows them, so what it does not set stays "not set" (< 0). */
static void narrow_for_kuberay(const struct args *a, struct controller_config *cfg)
{
	if (!a->provider || strcmp(a->provider, "kuberay"))
		return;
	cfg->narrowing = true;
	cfg->upscaling_speed = -1;
	cfg->idle_timeout_s = -1;
}

static void parse_args(int argc, char **argv, struct args *a, struct controller_config *cfg)
{
	static const struct option opts[] = {
		{ "dashboard", required_argument, NULL, O_DASH },
		{ "dashboard-url", required_argument, NULL, O_DASH },
		{ "dashboard-token-file", required_argument, NULL, O_DASH_TOKEN },
		{ "dashboard-timeout-ms", required_argument, NULL, O_DASH_TIMEOUT },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "worker-group", required_argument, NULL, O_GROUP },
		{ "idle-timeout", required_argument, NULL, O_IDLE },
		{ "upscaling-speed", required_argument, NULL, O_SPEED },
		{ "max-workers", required_argument, NULL, O_MAXW },
		{ "provider", required_argument, NULL, O_PROVIDER },
		{ "ray-address", required_argument, NULL, O_ADDRESS },
		{ "ray-bin", required_argument, NULL, O_RAYBIN },
		{ "ray-start-arg", required_argument, NULL, O_STARTARG },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "stop-grace", required_argument, NULL, O_GRACE },
		{ "node-temp-root", required_argument, NULL, O_NODETMP },
		{ "stop-nodes-on-exit", no_argument, NULL, O_STOPEXIT },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "stale-after", required_argument, NULL, O_STALE },
		{ "cooldown", required_argument, NULL, O_COOLDOWN },
		{ "launch-timeout", required_argument, NULL, O_LAUNCHTO },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "token-file", required_argument, NULL, O_TOKEN },
		{ "agent-auth", required_argument, NULL, O_AGENT_AUTH },
		{ "agent-token-audience", required_argument, NULL, O_AUDIENCE },
		{ "token-review-timeout-ms", required_argument, NULL, O_REVIEW_TIMEOUT },
		{ "agent-pod-selector", required_argument, NULL, O_POD_SELECTOR },
		{ "signal-max-age", required_argument, NULL, O_SIGAGE },
		{ "agent-capacity", required_argument, NULL, O_AGENTCAP },
		{ "max-push-rate", required_argument, NULL, O_PUSH_RATE },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "kubeconfig", required_argument, NULL, O_KUBECONFIG },
		{ "service-account-dir", required_argument, NULL, O_SA_DIR },
		{ "namespace", required_argument, NULL, O_K8S_NS },
		{ "raycluster", required_argument, NULL, O_RAYCLUSTER },
		{ "leader-elect", no_argument, NULL, O_LEADER },
		{ "lease-name", required_argument, NULL, O_LEASE },
		{ "tasks-timeout-ms", required_argument, NULL, O_TASKS_TIMEOUT },
		{ "signals", required_argument, NULL, O_SIGNALS },
		{ "keep-after-lease", required_argument, NULL, O_KEEP_LEASE },
		{ "reject-burst", required_argument, NULL, O_REJECT_BURST },
		{ "stuck-factor", required_argument, NULL, O_STUCK },
		{ "backoff", required_argument, NULL, O_BACKOFF },
		{ "startup-min-samples", required_argument, NULL, O_MIN_SAMPLES },
		{ "idle-timeout-max", required_argument, NULL, O_IDLE_MAX },
		{ "idle-beta", required_argument, NULL, O_IDLE_BETA },
		{ "idle-return-window", required_argument, NULL, O_RETURN_WINDOW },
		{ "unschedulable-grace", required_argument, NULL, O_UNSCHED },
		{ "tasks-wait-ms", required_argument, NULL, O_TASKS_WAIT },
		{ "tasks-max-pending", required_argument, NULL, O_TASKS_MAX },
		{ "probe-listen", required_argument, NULL, O_PROBE },
		{ "record-trace", required_argument, NULL, O_TRACE },
		{ "scale-up-grace", required_argument, NULL, O_GRACE_UP },
		{ "tick-budget-ms", required_argument, NULL, O_TICK_BUDGET },
		{ "demand-vector-max", required_argument, NULL, O_VECTOR_MAX },
		{ "gcs-address", required_argument, NULL, O_GCS },
		{ "trace-task-duration", required_argument, NULL, O_TRACE_TASK },
		{ "http-per-ip-limit", required_argument, NULL, O_PER_IP },
		{ "http-request-deadline-ms", required_argument, NULL, O_DEADLINE },
		{ "identity", required_argument, NULL, O_IDENTITY },
		{ "ignore-in-tree-autoscaler", no_argument, NULL, O_IGNORE_IN_TREE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	bool idle_set = false, speed_set = false, maxw_set = false;
	double idle = 0, speed = 0;
	long maxw = -1, l;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case O_DASH: a->dashboard = optarg; break;
		case O_DASH_TOKEN: a->dash_token_file = optarg; break;
		case O_DASH_TIMEOUT:
			if (rs_parse_long(optarg, 50, 600000, &l))
				rs_cli_usage_error(PROG, "bad --dashboard-timeout-ms '%s' (50..600000)", optarg);
			a->dash_timeout_ms = l;
			break;
		case O_TASKS_TIMEOUT:
			if (rs_parse_long(optarg, 100, 600000, &l))
				rs_cli_usage_error(PROG, "bad --tasks-timeout-ms '%s' (100..600000)", optarg);
			a->tasks_timeout_ms = l;
			break;
		case O_TASKS_WAIT:
			if (rs_parse_long(optarg, 0, 10000, &l))
				rs_cli_usage_error(PROG, "bad --tasks-wait-ms '%s' (0..10000)", optarg);
			a->tasks_wait_ms = l;
			break;
		case O_SIGNALS:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				rs_cli_usage_error(PROG, "bad --signals '%s' (want on or off)", optarg);
			a->fusion.enabled = !strcmp(optarg, "on");
			break;
		case O_KEEP_LEASE: a->fusion.keep_after_lease_s = parse_secs("--keep-after-lease", optarg); break;
		case O_REJECT_BURST: a->fusion.reject_burst_per_s = parse_secs("--reject-burst", optarg); break;
		case O_STUCK:
			a->fusion.stuck_factor = parse_secs("--stuck-factor", optarg);
			if (a->fusion.stuck_factor < 1)
				rs_cli_usage_error(PROG, "bad --stuck-factor '%s' (want >= 1)", optarg);
			break;
		case O_BACKOFF: a->fusion.backoff_s = parse_secs("--backoff", optarg); break;
		case O_MIN_SAMPLES:
			/* The model keeps the last STARTUP_SAMPLES samples. */
			if (rs_parse_long(optarg, 1, STARTUP_SAMPLES, &l))
				rs_cli_usage_error(PROG, "bad --startup-min-samples '%s' (1..%d)", optarg,
						   STARTUP_SAMPLES);
			a->fusion.stuck_min_samples = (size_t)l;
			break;
		case O_IDLE_MAX: a->fusion.idle_max_s = parse_secs("--idle-timeout-max", optarg); break;
		case O_IDLE_BETA:
			if (rs_parse_double(optarg, 0.1, 100, &a->fusion.idle_beta))
				rs_cli_usage_error(PROG, "bad --idle-beta '%s' (0.1..100)", optarg);
			break;
		case O_RETURN_WINDOW:
			a->fusion.returned_window_s = parse_secs("--idle-return-window", optarg);
			break;
		case O_UNSCHED:
			a->fusion.unschedulable_grace_s = !strcmp(optarg, "off") ? -1 :
				parse_secs("--unschedulable-grace", optarg);
			break;
		case O_TASKS_MAX:
			if (rs_parse_long(optarg, 0, 100000000, &l))
				rs_cli_usage_error(PROG, "bad --tasks-max-pending '%s' (0..1e8)", optarg);
			a->tasks_max_pending = l;
			break;
		case O_TRACE: a->record_trace = optarg; break;
		case O_VECTOR_MAX:
			if (rs_parse_long(optarg, 1, 1000000000, &a->demand_vector_max))
				rs_cli_usage_error(PROG, "bad --demand-vector-max '%s'", optarg);
			break;
		case O_GCS: a->gcs_address = optarg; break;
		case O_TICK_BUDGET:
			if (rs_parse_long(optarg, 50, 600000, &a->tick_budget_ms))
				rs_cli_usage_error(PROG, "bad --tick-budget-ms '%s' (50..600000)", optarg);
			break;
		case O_GRACE_UP: a->scale_up_grace = parse_secs("--scale-up-grace", optarg); break;
		case O_TRACE_TASK: a->trace_task_s = parse_secs("--trace-task-duration", optarg); break;
		case O_PROBE:
			if (!strcmp(optarg, "off"))
				a->probe_port = -1;
			else if (rs_parse_long(optarg, 1, 65535, &a->probe_port))
				rs_cli_usage_error(PROG, "bad --probe-listen '%s' (a port or off)", optarg);
			break;
		case O_PER_IP:
			if (rs_parse_long(optarg, 1, 100000, &a->http_per_ip))
				rs_cli_usage_error(PROG, "bad --http-per-ip-limit '%s' (1..100000)", optarg);
			break;
		case O_DEADLINE:
			if (rs_parse_long(optarg, 100, 600000, &a->http_deadline_ms))
				rs_cli_usage_error(PROG, "bad --http-request-deadline-ms '%s' (100..600000)",
						   optarg);
			break;
		case O_CONFIG: a->config = optarg; break;
		case O_GROUP:	/* parsed below, once the provider is known */
			a->group_specs[a->n_group_specs++] = optarg;
			break;
		case O_IDLE: idle = parse_secs("--idle-timeout", optarg); idle_set = true; break;
		case O_SPEED: speed = parse_secs("--upscaling-speed", optarg); speed_set = true; break;
		case O_MAXW:
			if (rs_parse_long(optarg, 0, 100000, &maxw))
				rs_cli_usage_error(PROG, "bad --max-workers '%s'", optarg);
			maxw_set = true;
			break;
		case O_PROVIDER:
			if (strcmp(optarg, "local") && strcmp(optarg, "kuberay"))
				rs_cli_usage_error(PROG, "unknown --provider '%s' (want local or kuberay)", optarg);
			a->provider = optarg;
			break;
		case O_KUBECONFIG: a->kubeconfig = optarg; break;
		case O_SA_DIR:
			if (!*optarg)
				rs_cli_usage_error(PROG, "--service-account-dir wants a directory");
			a->sa_dir = optarg;
			break;
		case O_K8S_NS: a->k8s_namespace = optarg; break;
		case O_RAYCLUSTER: a->raycluster = optarg; break;
		case O_LEADER: a->leader_elect = true; break;
		case O_LEASE: a->lease_name = optarg; break;
		case O_IDENTITY: a->identity = optarg; break;
		case O_IGNORE_IN_TREE: a->ignore_in_tree = true; break;
		case O_ADDRESS: a->address = optarg; break;
		case O_RAYBIN: a->ray_bin = optarg; break;
		case O_STARTARG:
			if (a->n_extra == MAX_EXTRA_ARGS)
				rs_cli_usage_error(PROG, "too many --ray-start-arg (max %d)", MAX_EXTRA_ARGS);
			a->extra[a->n_extra++] = optarg;
			break;
		case O_STATE: a->state_dir = optarg; break;
		case O_NODETMP: a->node_tmp = optarg; break;
		case O_GRACE: a->stop_grace = parse_secs("--stop-grace", optarg); break;
		case O_STOPEXIT: a->stop_on_exit = true; break;
		case O_INTERVAL: a->interval = parse_secs("--interval", optarg); break;
		case O_STALE: a->stale_after = parse_secs("--stale-after", optarg); break;
		case O_COOLDOWN: a->cooldown = parse_secs("--cooldown", optarg); break;
		case O_LAUNCHTO: a->launch_timeout = parse_secs("--launch-timeout", optarg); break;
		case O_DRY: a->dry_run = true; break;
		case O_LISTEN: a->listen = optarg; break;
		case O_TOKEN: a->token_file = optarg; break;
		case O_AGENT_AUTH: a->agent_auth = optarg; break;
		case O_AUDIENCE:
			if (!*optarg || strlen(optarg) > 100)
				rs_cli_usage_error(PROG, "bad --agent-token-audience '%s'", optarg);
			a->audience = optarg;
			break;
		case O_REVIEW_TIMEOUT:
			if (rs_parse_long(optarg, 100, 30000, &a->review_timeout_ms))
				rs_cli_usage_error(PROG, "bad --token-review-timeout-ms '%s' (100..30000)",
						   optarg);
			break;
		case O_POD_SELECTOR: a->pod_selector = optarg; break;
		case O_SIGAGE: a->signal_max_age = parse_secs("--signal-max-age", optarg); break;
		case O_AGENTCAP:
			if (rs_parse_long(optarg, 1, 10000000, &a->agent_capacity))
				rs_cli_usage_error(PROG, "bad --agent-capacity '%s' (1..10000000)", optarg);
			break;
		case O_PUSH_RATE:
			if (rs_parse_double(optarg, 0, 10000000, &a->max_push_rate))
				rs_cli_usage_error(PROG, "bad --max-push-rate '%s' (0..10000000)", optarg);
			break;
		case O_LOG:
			if (rs_log_parse_level(optarg, &a->level))
				rs_cli_usage_error(PROG, "bad --log-level '%s' (want debug|info|warn|error)", optarg);
			break;
		case 'h': usage(stdout); exit(RS_EXIT_OK);
		case 'V': rs_cli_print_version(PROG); exit(RS_EXIT_OK);
		default:
			fprintf(stderr, "Try '" PROG " --help' for more information.\n");
			exit(RS_EXIT_USAGE);
		}
	}
	if (optind < argc)
		rs_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	narrow_for_kuberay(a, cfg);
	for (size_t i = 0; i < a->n_group_specs; i++)
		if (config_add_group_spec(cfg, a->group_specs[i], err, sizeof(err)))
			rs_cli_usage_error(PROG, "%s", err);
	if (a->config && config_load_file(cfg, a->config, err, sizeof(err)))
		rs_cli_usage_error(PROG, "%s", err);
	/* Flags override the file. */
	if (idle_set)
		cfg->idle_timeout_s = idle;
	if (speed_set)
		cfg->upscaling_speed = speed;
	if (maxw_set)
		cfg->max_workers = (int)maxw;
	if (config_validate(cfg, err, sizeof(err)))
		rs_cli_usage_error(PROG, "%s", err);
	/* kuberay: the RayCluster's pod templates tag the groups (kuberay_groups.h). */
	if (!cfg->narrowing)
		config_default_platform(cfg, PLATFORM_LOCAL);
	if (a->interval <= 0)
		a->interval = 1;
	if (a->provider && !strcmp(a->provider, "kuberay") && !a->raycluster)
		rs_cli_usage_error(PROG, "--provider kuberay needs --raycluster");
	if (a->leader_elect && !(a->provider && !strcmp(a->provider, "kuberay")))
		rs_cli_usage_error(PROG, "--leader-elect needs --provider kuberay");
	if (a->sa_dir && a->kubeconfig)
		rs_cli_usage_error(PROG, "--service-account-dir and --kubeconfig exclude each other");
	if (a->sa_dir && !(a->provider && !strcmp(a->provider, "kuberay")))
		rs_cli_usage_error(PROG, "--service-account-dir needs --provider kuberay");
}

/* --agent-auth, and --token-file alone meaning token-file (as before the
 * flag existed); anything else is a usage error. */
static enum agent_auth_mode agent_auth_mode(const struct args *a)
{
	enum agent_auth_mode m;

	if (!a->agent_auth) {
		if (a->token_file)
			return AGENT_AUTH_TOKEN_FILE;
		rs_cli_usage_error(PROG, "say who may push agent signals: --agent-auth "
				   AGENT_AUTH_CHOICES " (none accepts anyone)");
	}
	if (agent_auth_parse_mode(a->agent_auth, &m))
		rs_cli_usage_error(PROG, "unknown --agent-auth '%s' (want " AGENT_AUTH_CHOICES ")",
				   a->agent_auth);
	if (m == AGENT_AUTH_TOKEN_FILE && !a->token_file)
		rs_cli_usage_error(PROG, "--agent-auth token-file needs --token-file");
	if (m != AGENT_AUTH_TOKEN_FILE && a->token_file)
		rs_cli_usage_error(PROG, "--token-file is the shared token of --agent-auth token-file, "
				   "not of --agent-auth %s", a->agent_auth);
	if (m != AGENT_AUTH_TOKENREVIEW && (a->audience || a->pod_selector || a->review_timeout_ms))
		rs_cli_usage_error(PROG, "--agent-token-audience, --agent-pod-selector and "
				   "--token-review-timeout-ms need --agent-auth tokenreview");
	return m;
}

static int create_agent_auth(const struct args *a, enum agent_auth_mode mode, const char *token,
			     struct agent_auth **out)
{
	struct agent_auth_config cfg = { .mode = mode, .token = token };
	static char selector[300];
	char err[512];
	int rc;

	if (mode == AGENT_AUTH_TOKENREVIEW) {
		cfg.kubeconfig = a->kubeconfig;
		cfg.sa_dir = a->sa_dir;
		cfg.audience = a->audience;
		cfg.review_timeout_ms = a->review_timeout_ms;
		cfg.pods_namespace = a->k8s_namespace;
		if (!a->pod_selector && a->raycluster)
			snprintf(selector, sizeof(selector), "ray.io/cluster=%s", a->raycluster);
		cfg.pods_selector = a->pod_selector ? a->pod_selector
						    : selector[0] ? selector : NULL;
	}
	rc = agent_auth_create(&cfg, out, err, sizeof(err));
	if (rc) {
		rs_error("agent auth: %s", err);
		return rc;
	}
	if (mode == AGENT_AUTH_NONE)
		rs_warn("SECURITY WARNING: --agent-auth none: POST /api/v1/signals accepts reports "
			"from anyone who can reach the API port; any sender can mark any Ray node "
			"busy and so hold scale-down. Use --agent-auth tokenreview on Kubernetes.");
	else
		rs_info("agent auth: %s%s%s%s", agent_auth_mode_name(mode),
			mode == AGENT_AUTH_TOKENREVIEW ? " (audience " : "",
			mode == AGENT_AUTH_TOKENREVIEW ? (a->audience ? a->audience
							: AGENT_AUTH_DEFAULT_AUDIENCE) : "",
			mode == AGENT_AUTH_TOKENREVIEW ? ")" : "");
	return 0;
}

/* Kubernetes API config: --kubeconfig (JSON) or the in-cluster account (its
 * files in --service-account-dir, default KUBE_SA_DIR). */
static int load_kube(const struct args *a, struct kube_client *kube)
{
	char err[KUBE_ERR_LEN];
	int rc;

	rc = a->kubeconfig ? kube_client_from_kubeconfig(kube, a->kubeconfig, NULL, err)
			   : kube_client_in_cluster(kube, a->sa_dir, err);
	if (rc)
		rs_error("%s", err);
	return rc;
}

static int create_kuberay(const struct args *a, const struct controller_config *cfg,
			  struct kube_client *kube, struct provider *out)
{
	struct provider_kuberay_config kc = { 0 };
	char err[PROVIDER_ERR_LEN];
	int rc;

	if (load_kube(a, kube))
		return -EINVAL;
	kc.kube = kube;
	kc.ns = a->k8s_namespace;
	kc.raycluster = a->raycluster;
	kc.overrides = cfg;
	kc.ignore_in_tree_autoscaler = a->ignore_in_tree;
	rc = provider_kuberay_create(&kc, out, err);
	if (rc)
		rs_error("kuberay provider: %s", err);
	return rc;
}

/* Leader election: block until we hold the Lease (in the RayCluster's
 * namespace, where deploy/'s Role grants it), then renew from a thread
 * that stops the process if the lease is lost (a restart re-joins the
 * election, as controller-runtime does). */
static int start_leader(const struct args *a, struct kube_client *kube, struct leader *le)
{
	struct leader_config lc = { 0 };
	static char host[256];
	char err[KUBE_ERR_LEN];

	if (load_kube(a, kube))
		return -EINVAL;
	if (!a->identity && gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "raysense-controller-%d", (int)getpid());
	lc.kube = kube;
	lc.ns = a->k8s_namespace ? a->k8s_namespace : kube->ns;
	lc.name = a->lease_name ? a->lease_name : "raysense-controller";
	lc.identity = a->identity ? a->identity : host;
	if (leader_init(le, &lc, err)) {
		rs_error("%s", err);
		return -EINVAL;
	}
	rs_info("leader election: %s waiting for lease %s/%s", lc.identity, lc.ns, lc.name);
	if (leader_acquire_blocking(le, &g_stop))
		return -EINTR;
	return leader_start_renewer(le, &g_stop);
}

static char *read_token(const char *path, const char *what)
{
	char *tok = NULL;
	int rc;

	if (!path)
		return NULL;
	rc = rs_read_file_trimmed(path, 4096, &tok);
	if (rc || !tok[0]) {
		fprintf(stderr, PROG ": cannot read %s %s: %s\n", what, path,
			rc ? strerror(-rc) : "empty file");
		exit(RS_EXIT_USAGE);
	}
	return tok;
}

static void stop_all_nodes(struct provider *p, double grace)
{
	const struct provider_node *pn;
	char err[PROVIDER_ERR_LEN];
	size_t n = p->ops->list(p, &pn);
	double start;

	for (size_t i = 0; i < n; i++) {
		char id[PROVIDER_ID_MAX];

		snprintf(id, sizeof(id), "%s", pn[i].id);
		if (p->ops->terminate(p, id, err))
			rs_warn("cannot stop %s: %s", id, err);
	}
	start = rs_now_unix();
	for (;;) {
		double now = rs_now_unix();

		p->ops->refresh(p, now);
		if (p->ops->list(p, &pn) == 0 || now - start > grace + 10)
			break;
		usleep(200000);
	}
}

int main(int argc, char **argv)
{
	struct args a = { .level = RS_LOG_INFO, .tasks_wait_ms = -1, .tasks_max_pending = -1,
			  .scale_up_grace = 5, .agent_capacity = SIGNALS_DEFAULT_CAPACITY };
	struct controller_config cfg;
	struct dash_client dash = { 0 };
	char gcs[256];
	struct controller_opts opts = { 0 };
	struct provider_local_config lp = { 0 };
	struct controller_api_config ac = { 0 };
	struct rs_http_server *srv = NULL;
	struct controller *ctl = NULL;
	struct kube_client kube = { 0 }, lease_kube = { 0 };
	struct leader le = { 0 };
	struct agent_auth *auth = NULL;
	enum agent_auth_mode auth_mode;
	bool kuberay, leading = false;
	int exit_code = RS_EXIT_OK;
	char host[256], err[PROVIDER_ERR_LEN];
	char *dash_token, *token;
	int port, rc;

	config_init(&cfg);
	cfg.upscaling_speed = 1000;
	a.group_specs = calloc((size_t)argc + 1, sizeof(*a.group_specs));
	if (!a.group_specs)
		return RS_EXIT_FAILURE;
	fusion_config_defaults(&a.fusion);
	parse_args(argc, argv, &a, &cfg);
	if (!a.dashboard)
		a.dashboard = DEFAULT_DASHBOARD;
	gcs_address(&a, a.dashboard, gcs, sizeof(gcs));
	auth_mode = agent_auth_mode(&a);
	rs_log_init("controller", a.level);
	dash_token = read_token(a.dash_token_file, "dashboard token file");
	token = read_token(a.token_file, "token file");
	if (rs_parse_listen_addr(a.listen ? a.listen : "127.0.0.1:9650", "127.0.0.1", host, &port))
		rs_cli_usage_error(PROG, "bad --listen '%s'", a.listen);
	if (rs_http_global_init()) {
		rs_error("libcurl init failed");
		return RS_EXIT_FAILURE;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (create_agent_auth(&a, auth_mode, token, &auth))
		return RS_EXIT_FAILURE;
	kuberay = a.provider && !strcmp(a.provider, "kuberay");
	lp.ray_bin = a.ray_bin;
	lp.address = a.address ? a.address : "127.0.0.1:6379";
	lp.state_dir = a.state_dir ? a.state_dir : "./raysense-state";
	lp.extra_args = a.extra;
	lp.stop_grace_s = a.stop_grace;
	lp.node_temp_root = a.node_tmp;
	if (kuberay) {
		rc = create_kuberay(&a, &cfg, &kube, &opts.provider);
	} else {
		rc = provider_local_create(&lp, &opts.provider, err);
		if (rc)
			rs_error("local provider: %s", err);
	}
	if (rc)
		return RS_EXIT_FAILURE;
	dash.base_url = a.dashboard;
	dash.token = dash_token;
	dash.timeout_ms = a.dash_timeout_ms;
	dash.tasks_timeout_ms = a.tasks_timeout_ms;
	dash.tick_budget_ms = a.tick_budget_ms;
	dash.demand_vector_max = a.demand_vector_max;
	dash.gcs_address = gcs[0] ? gcs : NULL;
	if (gcs[0])
		rs_info("pending demand per shape read from the GCS at %s (--gcs-address)", gcs);
	else
		rs_info("GCS demand read off: the demand comes from the monitor's report");
	if (dash_source_create(&dash, a.tasks_wait_ms < 0 ? -1 : a.tasks_wait_ms / 1000.0,
			       a.tasks_max_pending, &opts.source)) {
		rs_error("out of memory");
		return RS_EXIT_FAILURE;
	}
	opts.config = &cfg;
	opts.interval_s = a.interval;
	opts.stale_after_s = a.stale_after;
	opts.scale_down_cooldown_s = a.cooldown > 0 ? a.cooldown : -1;
	opts.launch_timeout_s = a.launch_timeout;
	opts.signal_max_age_s = a.signal_max_age;
	opts.scale_up_grace_s = a.scale_up_grace;
	opts.dry_run = a.dry_run;
	opts.fusion = a.fusion;
	opts.record_trace = a.record_trace;
	opts.record_task_duration_s = a.trace_task_s;
	opts.node_map = agent_auth_node_map(auth);
	rc = controller_create(&opts, &ctl);
	if (rc) {
		rs_error("cannot start the controller: %s%s%s%s", strerror(-rc),
			 a.record_trace ? " (trace file " : "", a.record_trace ? a.record_trace : "",
			 a.record_trace ? ")" : "");
		return RS_EXIT_FAILURE;
	}
	/* Eviction age = the age past which hints are ignored anyway. */
	if (signals_configure(controller_signals(ctl), (size_t)a.agent_capacity,
			      a.signal_max_age > 0 ? a.signal_max_age : SIGNALS_DEFAULT_MAX_AGE_S)) {
		rs_error("bad --agent-capacity %ld", a.agent_capacity);
		controller_destroy(ctl);
		return RS_EXIT_FAILURE;
	}
	ac.host = host;
	ac.port = port;
	ac.auth = auth;
	ac.probe_port = (int)a.probe_port;
	ac.per_ip_limit = (unsigned)a.http_per_ip;
	ac.request_deadline_ms = (unsigned)a.http_deadline_ms;
	ac.max_push_rate = a.max_push_rate;
	rc = controller_api_start(ctl, &ac, &srv);
	if (rc) {
		rs_error("cannot listen on %s:%d: %s", host, port, strerror(-rc));
		controller_destroy(ctl);
		return RS_EXIT_FAILURE;
	}
	rs_info("controller up: dashboard %s, %zu worker group(s), API on %s:%d, probes on %d, "
		"signals %s%s", dash.base_url, cfg.group_count, host, controller_api_port(srv),
		controller_api_probe_port(srv), a.fusion.enabled ? "on" : "off",
		a.dry_run ? ", DRY RUN" : "");
	/* A standby serves the API while it waits for the Lease (so liveness
	 * probes pass; readiness stays false until it runs the loop). */
	if (a.leader_elect) {
		rc = start_leader(&a, &lease_kube, &le);
		leading = rc == 0;
		if (rc && !g_stop)
			exit_code = RS_EXIT_FAILURE;
	}
	if (!a.leader_elect || leading)
		controller_run(ctl, &g_stop);
	rs_info("stopping");
	controller_api_stop(srv);
	if (a.stop_on_exit)
		stop_all_nodes(&opts.provider, a.stop_grace > 0 ? a.stop_grace : 15);
	controller_destroy(ctl);
	agent_auth_destroy(auth);
	/* The renewer keeps the lease through the cleanup above; le.leading
	 * is only read once that thread is joined (it writes it). */
	if (leading) {
		leader_stop_renewer(&le);
		if (!le.leading) {
			rs_error("leader election lost; exiting so that a restart re-joins it");
			exit_code = RS_EXIT_FAILURE;
		} else if (leader_release(&le)) {
			rs_warn("could not release the lease: %s", le.last_error);
		}
	}
	leader_free(&le);
	kube_client_free(&kube);
	kube_client_free(&lease_kube);
	config_free(&cfg);
	free(a.group_specs);
	free(dash_token);
	free(token);
	rs_http_global_cleanup();
	return exit_code;
}
