/* main.c -- raysensectl: inspect the agent, the controller and the pinned BPF
 * maps, and run the planner offline. Subcommands live in cmd_<name>.c; this
 * file only parses global flags and dispatches (bpftool's layout). */
#include "ctl/commands.h"
#include "common/cli.h"
#include "common/log.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define PROG "raysensectl"

bool ctl_json_output;
bool ctl_pretty_output;

/* Weak so that the binary links while a subcommand is being written; a
 * missing one is reported at run time, never silently ignored. */
#pragma weak cmd_plan
#pragma weak cmd_status
#pragma weak cmd_agent
#pragma weak cmd_maps
#pragma weak cmd_replay

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Inspect raysense and run the planner offline.\n"
		"\n"
		"Commands:\n"
		"  plan FILE        plan a scenario (JSON; '-' for stdin) and print the plan\n"
		"  replay TRACE     replay a demand trace: Ray's semantics vs raysense\n"
		"  status [--url U] show the controller's node types, nodes, demand and last plan\n"
		"  agent [--url U]  summarize an agent's signals\n"
		"  maps [--dir D]   decode the pinned BPF maps (no agent needed)\n"
		"\n"
		"Options:\n"
		"  -j, --json       JSON output\n"
		"  -p, --pretty     pretty-printed JSON output (implies --json)\n"
		"  --log-level L    debug|info|warn|error (default warn)\n"
		"  -h, --help       show this help\n"
		"  -V, --version    show the version\n"
		"\n"
		"Run '" PROG " COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const struct subcommand cmds[] = {
		{ "plan", cmd_plan, "offline planner" },
		{ "replay", cmd_replay, "demand trace replay" },
		{ "status", cmd_status, "controller status" },
		{ "agent", cmd_agent, "agent summary" },
		{ "maps", cmd_maps, "pinned maps" },
	};
	enum rs_log_level level = RS_LOG_WARN;
	int c;

	rs_log_init("raysensectl", level);
	/* '+': stop at the first non-option, which is the subcommand. */
	while ((c = getopt_long(argc, argv, "+jphV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctl_json_output = true;
			break;
		case 'p':
			ctl_json_output = ctl_pretty_output = true;
			break;
		case 'L':
			if (rs_log_parse_level(optarg, &level))
				rs_cli_usage_error(PROG, "bad --log-level '%s'", optarg);
			rs_log_set_level(level);
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
	if (optind >= argc)
		rs_cli_usage_error(PROG, "missing command");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[optind], cmds[i].name) != 0)
			continue;
		if (!cmds[i].fn) {
			fprintf(stderr, PROG ": command '%s' is not built into this binary\n",
				cmds[i].name);
			return RS_EXIT_FAILURE;
		}
		{
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			optind = 0; /* let the subcommand run getopt afresh */
			return cmds[i].fn(sub_argc, sub_argv);
		}
	}
	rs_cli_usage_error(PROG, "unknown command '%s'", argv[optind]);
}
