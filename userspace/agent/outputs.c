/* outputs.c -- flags and lifetime of the HTTP endpoints and the push thread
 * (see outputs.h). One agent process has one set of outputs, hence the
 * file-scope state. */
#include "agent/outputs.h"
#include "agent/agent_http.h"
#include "agent/push.h"
#include "agent/snapshot.h"
#include "common/cli.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

static struct rs_agent_http *http;
static struct rs_push *push;

void rs_outputs_defaults(struct rs_outputs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "0.0.0.0");
	cfg->listen_port = RS_AGENT_DEFAULT_PORT;
	cfg->push_interval_s = 5.0;
}

static bool numeric_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void parse_addr(const char *prog, const char *flag, const char *arg, char *host,
		       int *port)
{
	if (rs_parse_listen_addr(arg, "0.0.0.0", host, port))
		rs_cli_usage_error(prog, "bad %s '%s' (want host:port, :port or port)", flag, arg);
	if (!numeric_address(host))
		rs_cli_usage_error(prog, "bad %s '%s': the host must be a numeric IPv4 "
				   "or [IPv6] address, e.g. 0.0.0.0:9640 or [::]:9640", flag, arg);
}

static unsigned parse_uint(const char *prog, const char *flag, const char *arg, long min,
			   long max)
{
	long v;

	if (rs_parse_long(arg, min, max, &v))
		rs_cli_usage_error(prog, "bad %s '%s' (want %ld..%ld)", flag, arg, min, max);
	return (unsigned)v;
}

void rs_outputs_parse_opt(struct rs_outputs_config *cfg, const char *prog, int opt,
			  const char *arg)
{
	switch (opt) {
	case RS_OPT_LISTEN:
		parse_addr(prog, "--listen", arg, cfg->listen_host, &cfg->listen_port);
		break;
	case RS_OPT_PROBE_LISTEN:
		if (strcmp(arg, "off") == 0)
			cfg->probe_port = -1;
		else
			parse_addr(prog, "--probe-listen", arg, cfg->probe_host, &cfg->probe_port);
		break;
	case RS_OPT_HTTP_PER_IP:
		cfg->http_per_ip_limit = parse_uint(prog, "--http-per-ip-limit", arg, 1, 100000);
		break;
	case RS_OPT_HTTP_DEADLINE:
		cfg->http_deadline_ms = parse_uint(prog, "--http-request-deadline-ms", arg, 100, 600000);
		break;
	case RS_OPT_CONTROLLER_URL:
		if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
			rs_cli_usage_error(prog, "bad --controller-url '%s' (want http:// or https://)", arg);
		cfg->controller_url = arg;
		break;
	case RS_OPT_TOKEN_FILE:
		if (!*arg)
			rs_cli_usage_error(prog, "--token-file wants a path");
		cfg->token_file = arg;
		break;
	case RS_OPT_DEBUG_LABELS:
		cfg->debug_labels = true;
		break;
	case RS_OPT_PUSH_INTERVAL:
		if (rs_parse_double(arg, 0.05, 3600, &cfg->push_interval_s))
			rs_cli_usage_error(prog, "bad --push-interval '%s' (want seconds in [0.05, 3600])", arg);
		break;
	default:
		rs_cli_usage_error(prog, "internal: unknown output option %d", opt);
	}
}

int rs_outputs_start(const struct rs_outputs_config *cfg, const char *pin_dir)
{
	struct rs_agent_http_config hcfg = {
		.host = cfg->listen_host,
		.port = cfg->listen_port,
		.pin_dir = pin_dir,
		.collect = rs_snapshot_collect,
		.free_snapshot = rs_snapshot_free,
		.families = rs_metric_families,
		.per_ip_limit = cfg->http_per_ip_limit,
		.request_deadline_ms = cfg->http_deadline_ms,
		.probe_host = cfg->probe_host[0] ? cfg->probe_host : cfg->listen_host,
		.probe_port = cfg->probe_port ? cfg->probe_port
			      : cfg->listen_port ? cfg->listen_port + 1 : 0,
		/* An explicit --probe-listen must bind; the derived default warns. */
		.probe_required = cfg->probe_port > 0,
		.debug_labels = cfg->debug_labels,
	};
	int err;

	/* Every collection (HTTP threads, push thread) builds and frees buffers
	 * of 50 KB to 1 MB while small long-lived objects (queued snapshots,
	 * delta baselines) land between them, which fragments the threads'
	 * malloc arenas: RSS crept up ~10 MB in 3 minutes of a down controller.
	 * Serving the big buffers with mmap returns them to the kernel on free. */
	if (!mallopt(M_MMAP_THRESHOLD, 32 * 1024))
		rs_warn("mallopt(M_MMAP_THRESHOLD) failed; RSS may creep under load");

	if (cfg->controller_url) {
		struct rs_push_config pcfg = {
			.url = cfg->controller_url,
			.token_file = cfg->token_file,
			.interval_s = cfg->push_interval_s,
			.pin_dir = pin_dir,
			.collect = rs_snapshot_collect,
			.free_snapshot = rs_snapshot_free,
		};

		err = rs_push_start(&pcfg, &push);
		if (err) {
			rs_error("cannot start the push to %s: %s", cfg->controller_url, strerror(-err));
			return err;
		}
		rs_info("pushing snapshots to %s every %.3g s", cfg->controller_url,
			cfg->push_interval_s);
	} else if (cfg->token_file) {
		rs_warn("--token-file without --controller-url: nothing is pushed");
	}
	hcfg.push = push;
	err = rs_agent_http_start(&hcfg, &http);
	if (err) {
		rs_error("cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
			 strerror(-err));
		rs_push_stop(push);
		push = NULL;
	}
	return err;
}

void rs_outputs_set_ready(bool attached)
{
	rs_agent_http_set_ready(http, attached);
}

void rs_outputs_set_family(const char *family, int err)
{
	rs_agent_http_set_family(http, family, err);
}

void rs_outputs_stop(void)
{
	rs_agent_http_stop(http);
	http = NULL;
	rs_push_stop(push);
	push = NULL;
}
