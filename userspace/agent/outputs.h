/* outputs.h -- the agent's outputs as one unit for main.c: the HTTP endpoints
 * (agent_http.h) and the push to the controller (push.h), with their flags.
 * Keeping flag parsing here keeps main.c's edit for them to a few lines. */
#ifndef RAYSENSE_AGENT_OUTPUTS_H
#define RAYSENSE_AGENT_OUTPUTS_H

#include <getopt.h>
#include <stdbool.h>

/* getopt_long codes of the output flags (above any short option). */
enum {
	RS_OPT_LISTEN = 0x1000,
	RS_OPT_CONTROLLER_URL,
	RS_OPT_TOKEN_FILE,
	RS_OPT_PUSH_INTERVAL,
	RS_OPT_PROBE_LISTEN,
	RS_OPT_HTTP_PER_IP,
	RS_OPT_HTTP_DEADLINE,
	RS_OPT_DEBUG_LABELS,
};

#define RS_OUTPUTS_LONG_OPTIONS                                                   \
	{ "listen", required_argument, NULL, RS_OPT_LISTEN },                     \
	{ "controller-url", required_argument, NULL, RS_OPT_CONTROLLER_URL },     \
	{ "token-file", required_argument, NULL, RS_OPT_TOKEN_FILE },             \
	{ "push-interval", required_argument, NULL, RS_OPT_PUSH_INTERVAL },       \
	{ "probe-listen", required_argument, NULL, RS_OPT_PROBE_LISTEN },         \
	{ "http-per-ip-limit", required_argument, NULL, RS_OPT_HTTP_PER_IP },     \
	{ "http-request-deadline-ms", required_argument, NULL, RS_OPT_HTTP_DEADLINE }, \
	{ "debug-labels", no_argument, NULL, RS_OPT_DEBUG_LABELS }

#define RS_OUTPUTS_USAGE                                                                    \
	"  --listen ADDR         serve /metrics, /metrics.json, /healthz, /readyz on\n"     \
	"                        ADDR (host:port, :port or port; default 0.0.0.0:9640)\n"   \
	"  --controller-url URL  POST a gzip JSON snapshot to URL every push interval\n"     \
	"  --token-file FILE     bearer token for the push (re-read when it changes)\n"     \
	"  --push-interval SECS  push interval in seconds (default 5)\n"                   \
	"  --probe-listen ADDR   also serve /healthz, /readyz on ADDR, with their own\n"   \
	"                        connection slots, for the Kubernetes probes (default:\n"   \
	"                        the --listen host, its port + 1, i.e. 9641; 'off')\n"      \
	"  --http-per-ip-limit N connections per client address (default 32; 256 in all)\n" \
	"  --http-request-deadline-ms N  time a request (headers, body, answer) may\n"    \
	"                        take, from accept or the previous request (default 5000)\n" \
	"  --debug-labels        also label /metrics series with process ids and pod\n"    \
	"                        UIDs (raylet_pid, pod_uid, gcs_pid) and export the\n"      \
	"                        per-peer GCS series; off by default (cardinality)\n"

struct rs_outputs_config {
	char listen_host[256];
	int listen_port;
	const char *controller_url;
	const char *token_file;
	double push_interval_s;
	char probe_host[256];       /* "" = listen_host */
	int probe_port;             /* 0 = listen_port + 1; -1 = no probe listener */
	unsigned http_per_ip_limit; /* 0 = the server's default */
	unsigned http_deadline_ms;  /* 0 = the server's default */
	bool debug_labels;          /* --debug-labels */
};

/* Defaults: 0.0.0.0:9640 (probes on 9641), no push, 5 s. */
void rs_outputs_defaults(struct rs_outputs_config *cfg);
/* Handle one RS_OPT_* option; exits with usage error (code 2) on bad input. */
void rs_outputs_parse_opt(struct rs_outputs_config *cfg, const char *prog, int opt,
			  const char *arg);
/* Start the HTTP server (and the push thread when a controller URL is set).
 * Returns 0 or -errno (-EADDRINUSE...). */
int rs_outputs_start(const struct rs_outputs_config *cfg, const char *pin_dir);
/* main.c: probes attached (true) or being detached (false); drives /readyz. */
void rs_outputs_set_ready(bool attached);
/* main.c: one probe family's attach result (0 or -errno), see agent_http.h. */
void rs_outputs_set_family(const char *family, int err);
void rs_outputs_stop(void);

#endif
