/* cmd_maps.c -- `raysensectl maps [--dir D] [--families]`: decode raysense's
 * pinned BPF maps directly (rs_snapshot_collect), with no agent running, and
 * print the same summary as `raysensectl agent` (or the /metrics.json rows
 * with -j). --families lists every metric family the agent can export. Exit
 * codes: 0 ok, 1 nothing pinned or unreadable, 2 bad usage. */
#include "ctl/commands.h"
#include "ctl/summary.h"
#include "agent/export.h"
#include "agent/probe.h"
#include "common/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define PROG "raysensectl maps"

static void maps_usage(FILE *out)
{
	fprintf(out,
		"Usage: raysensectl [-j|-p] maps [--dir DIR] [--families]\n"
		"\n"
		"Decode the BPF maps raysense-agent pinned under DIR (default\n"
		RS_DEFAULT_PIN_DIR ") without asking the agent: it may be stopped.\n"
		"\n"
		"Options:\n"
		"  --dir DIR     pin directory\n"
		"  --families    list the metric families the agent exports (name, type)\n"
		"  -h, --help    show this help\n");
}

static int print_families(void)
{
	const struct rs_family_info *tables[2] = { rs_metric_families, rs_export_families };
	cJSON *arr = ctl_json_output ? cJSON_CreateArray() : NULL;
	int rc = RS_EXIT_OK;

	for (int t = 0; t < 2; t++) {
		for (const struct rs_family_info *f = tables[t]; f->family; f++) {
			struct rs_export_ctx probe_only = { .families = rs_metric_families };
			cJSON *o;

			/* A derived family the probe side also exports: list it once. */
			if (t == 1 && rs_export_family_info(&probe_only, f->family) != f)
				continue;

			if (!arr) {
				printf("%s %s\n", f->family, f->type);
				continue;
			}
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "family", f->family);
			cJSON_AddStringToObject(o, "type", f->type);
			cJSON_AddStringToObject(o, "help", f->help);
			cJSON_AddItemToArray(arr, o);
		}
	}
	if (arr && ctl_print_json(stdout, arr))
		rc = RS_EXIT_FAILURE;
	cJSON_Delete(arr);
	return rc;
}

int cmd_maps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "families", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = RS_DEFAULT_PIN_DIR;
	struct rs_export_ctx ctx = { .families = rs_metric_families };
	struct rs_snapshot snap;
	struct rs_json_error jerr;
	bool families = false;
	cJSON *rows;
	int c, err, rc = RS_EXIT_OK;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!*optarg)
				rs_cli_usage_error(PROG, "--dir wants a directory");
			dir = optarg;
			break;
		case 'f':
			families = true;
			break;
		case 'h':
			maps_usage(stdout);
			return RS_EXIT_OK;
		default:
			fprintf(stderr, "Try '" PROG " --help' for more information.\n");
			return RS_EXIT_USAGE;
		}
	}
	if (optind < argc)
		rs_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (families)
		return print_families();
	err = rs_snapshot_collect(dir, &snap);
	if (err == -ENOENT) {
		fprintf(stderr, PROG ": no raysense maps pinned under %s (has raysense-agent run on this node?)\n",
			dir);
		return RS_EXIT_FAILURE;
	}
	if (err) {
		fprintf(stderr, PROG ": cannot read the maps under %s: %s%s\n", dir, strerror(-err),
			err == -EPERM || err == -EACCES ? " (run as root)" : "");
		return RS_EXIT_FAILURE;
	}
	rows = rs_export_json(&snap, &ctx);
	rs_snapshot_free(&snap);
	if (!rows) {
		fprintf(stderr, PROG ": out of memory\n");
		return RS_EXIT_FAILURE;
	}
	if (ctl_json_output) {
		if (ctl_print_json(stdout, rows))
			rc = RS_EXIT_FAILURE;
	} else {
		printf("Pinned maps under %s\n", dir);
		if (ctl_print_summary(stdout, rows, &jerr)) {
			fprintf(stderr, PROG ": %s\n", jerr.msg);
			rc = RS_EXIT_FAILURE;
		}
	}
	cJSON_Delete(rows);
	return rc;
}
