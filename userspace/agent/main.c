/* main.c -- raysense-agent entry point: flags, logging, then attach every
 * probe family (families.c), poll them until SIGTERM/SIGINT, and detach them
 * all, so that no raysense program stays attached after exit. Pinned maps
 * stay: they hold the histograms, and a restarted agent continues them. */
#include "agent/lease_window.h"
#include "agent/outputs.h"
#include "agent/probe.h"
#include "common/cli.h"
#include "common/log.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PROG "raysense-agent"
#define POLL_INTERVAL_MS 200
#define MAX_FAMILIES 32

static volatile sig_atomic_t stop_signal;
static bool libbpf_verbose;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTIONS]\n"
		"\n"
		"Measure Ray scheduling and startup latency with eBPF.\n"
		"\n"
		"Options:\n"
		"  --pin-dir DIR       pin BPF maps under DIR (default " RS_DEFAULT_PIN_DIR ")\n"
		"  --raylet-path PATH  only watch raylets whose binary is PATH (or is under\n"
		"                      PATH when it ends in '/')\n"
		"  --lease-phases      also time lease phases (queue, worker pop, grant):\n"
		"                      ~5 more uprobe hits per lease\n"
		RS_LEASE_MODE_USAGE
		RS_OUTPUTS_USAGE
		"  --log-level L       debug|info|warn|error (default info)\n"
		"  -v, --verbose       include libbpf debug messages\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n");
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* libbpf messages go through our JSON-lines log (libbpf-tools filters the
 * same way: debug output only with -v). */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char buf[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && !libbpf_verbose)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, args);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	rs_log(level == LIBBPF_WARN ? RS_LOG_WARN : level == LIBBPF_INFO ? RS_LOG_INFO : RS_LOG_DEBUG,
	       "%s%s", strncmp(buf, "libbpf: ", 8) ? "libbpf: " : "", buf);
	return 0;
}

static int install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

struct running {
	const struct rs_probe_family *family;
	void *state;
};

static int attach_all(const struct rs_probe_ctx *ctx, struct running *run)
{
	int n = 0;

	for (const struct rs_probe_family *const *f = rs_probe_families; *f && n < MAX_FAMILIES; f++) {
		void *state = NULL;
		int err;

		if (stop_signal) {
			rs_info("signal %d during start-up: not attaching %s", (int)stop_signal, (*f)->name);
			break;
		}
		err = (*f)->attach(ctx, &state);
		rs_outputs_set_family((*f)->name, err);
		if (err) {
			rs_error("probe family %s failed to attach: %s (the others keep running)",
				 (*f)->name, strerror(-err));
			continue;
		}
		rs_info("probe family %s attached", (*f)->name);
		run[n].family = *f;
		run[n].state = state;
		n++;
	}
	return n;
}

static int count_families(void)
{
	int n = 0;

	for (const struct rs_probe_family *const *f = rs_probe_families; *f && n < MAX_FAMILIES; f++)
		n++;
	return n;
}

static void detach_all(struct running *run, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		run[i].family->detach(run[i].state);
		rs_info("probe family %s detached", run[i].family->name);
	}
}

/* Sleep to the next multiple of POLL_INTERVAL_MS of UNIX time: the lease
 * windows are aligned to it (lease_window.h), so every poll lands at the
 * same phase of them and a 400 ms window is open for two whole polls. */
static void sleep_to_next_poll(void)
{
	struct timespec now, next;
	uint64_t ms;

	if (clock_gettime(CLOCK_REALTIME, &now)) {
		next = (struct timespec){ 0, POLL_INTERVAL_MS * 1000000L };
		nanosleep(&next, NULL);
		return;
	}
	ms = rs_lease_next_poll_ms((uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u,
				   POLL_INTERVAL_MS);
	next.tv_sec = (time_t)(ms / 1000u);
	next.tv_nsec = (long)(ms % 1000u) * 1000000L;
	/* Absolute, so a clock step is followed; a signal cuts it short. */
	clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &next, NULL);
}

static void poll_loop(struct running *run, int n)
{
	while (!stop_signal) {
		for (int i = 0; i < n; i++)
			if (run[i].family->poll && run[i].family->poll(run[i].state) < 0)
				rs_warn("probe family %s: poll failed", run[i].family->name);
		sleep_to_next_poll();
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "raylet-path", required_argument, NULL, 'R' },
		{ "lease-phases", no_argument, NULL, 'F' },
		{ "lease-probes", required_argument, NULL, 'M' },
		RS_OUTPUTS_LONG_OPTIONS,
		{ "log-level", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct rs_probe_ctx ctx = { .pin_dir = RS_DEFAULT_PIN_DIR };
	enum rs_log_level level = RS_LOG_INFO;
	struct running run[MAX_FAMILIES];
	struct rs_outputs_config outputs;
	int c, n, n_families, err;

	rs_outputs_defaults(&outputs);
	rs_lease_mode_default(&ctx.lease_mode);

	while ((c = getopt_long(argc, argv, "vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (!*optarg || optarg[0] != '/')
				rs_cli_usage_error(PROG, "--pin-dir wants an absolute path, got '%s'", optarg);
			ctx.pin_dir = optarg;
			break;
		case 'R':
			if (!*optarg || optarg[0] != '/')
				rs_cli_usage_error(PROG, "--raylet-path wants an absolute path, got '%s'", optarg);
			ctx.raylet_path_filter = optarg;
			break;
		case RS_OPT_LISTEN:
		case RS_OPT_CONTROLLER_URL:
		case RS_OPT_TOKEN_FILE:
		case RS_OPT_PUSH_INTERVAL:
		case RS_OPT_PROBE_LISTEN:
		case RS_OPT_HTTP_PER_IP:
		case RS_OPT_HTTP_DEADLINE:
		case RS_OPT_DEBUG_LABELS:
		case RS_OPT_PUSH_FORMAT:
			rs_outputs_parse_opt(&outputs, PROG, c, optarg);
			break;
		case 'F':
			ctx.lease_phases = true;
			break;
		case 'M':
			if (rs_lease_mode_parse(optarg, &ctx.lease_mode))
				rs_cli_usage_error(PROG, "bad --lease-probes '%s' (want all, rpc, duty or "
						   "duty:ON_MS/PERIOD_MS with %u <= ON_MS <= PERIOD_MS)",
						   optarg, RS_LEASE_DUTY_MIN_ON_MS);
			break;
		case 'L':
			if (rs_log_parse_level(optarg, &level))
				rs_cli_usage_error(PROG, "bad --log-level '%s' (want debug|info|warn|error)", optarg);
			break;
		case 'v':
			libbpf_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return RS_EXIT_OK;
		case 'V':
			rs_cli_print_version(PROG);
			return RS_EXIT_OK;
		default:
			fprintf(stderr, "Try '" PROG " --help' for more information.\n");
			return RS_EXIT_USAGE;
		}
	}
	if (optind < argc)
		rs_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	rs_log_init("agent", level);
	libbpf_set_print(libbpf_print);
	err = install_signals();
	if (err) {
		rs_error("cannot install signal handlers: %s", strerror(-err));
		return RS_EXIT_FAILURE;
	}

	/* Outputs first, so /healthz answers while the probes attach. */
	if (rs_outputs_start(&outputs, ctx.pin_dir))
		return RS_EXIT_FAILURE;
	n = attach_all(&ctx, run);
	if (n == 0) {
		rs_error("no probe family could attach; exiting");
		rs_outputs_stop();
		return RS_EXIT_FAILURE;
	}
	n_families = count_families();
	rs_info("agent running: %d probe famil%s, maps pinned under %s", n, n == 1 ? "y" : "ies",
		ctx.pin_dir);
	/* Ready means every family is attached: a family that failed (say, no
	 * tracefs mount) keeps the pod unready so the misconfiguration shows,
	 * while the families that did attach keep measuring and serving. */
	if (n == n_families)
		rs_outputs_set_ready(true);
	else
		rs_warn("not ready: %d of %d probe families attached", n, n_families);
	poll_loop(run, n);
	rs_outputs_set_ready(false);
	rs_info("signal %d: detaching", (int)stop_signal);
	detach_all(run, n);
	rs_outputs_stop();
	return RS_EXIT_OK;
}
