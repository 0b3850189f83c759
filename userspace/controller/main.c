/* main.c -- raysense-controller entry point: flags, logging, then the control
 * loop (see controller.h). */
#include "common/cli.h"
#include "common/log.h"

#include <getopt.h>
#include <stdio.h>

#define PROG "raysense-controller"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTIONS]\n"
		"\n"
		"Scale a Ray cluster from its logical demand, informed by raysense agents.\n"
		"\n"
		"Options:\n"
		"  --log-level L   debug|info|warn|error (default info)\n"
		"  -h, --help      show this help\n"
		"  -V, --version   show the version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	enum rs_log_level level = RS_LOG_INFO;
	int c;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'L':
			if (rs_log_parse_level(optarg, &level))
				rs_cli_usage_error(PROG, "bad --log-level '%s' (want debug|info|warn|error)", optarg);
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
	rs_log_init("controller", level);
	rs_error("the control loop is not built yet");
	return RS_EXIT_FAILURE;
}
