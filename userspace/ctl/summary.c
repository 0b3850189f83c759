/* summary.c -- the human summary of /metrics.json rows (see summary.h). */
#include "ctl/summary.h"
#include "ctl/commands.h"
#include "agent/snapshot.h" /* startup phase names (header only: no agent link) */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "1.23 ms" style; "-" for a missing value. */
static void fmt_seconds(const cJSON *v, char *buf, size_t len)
{
	double s;

	if (!cJSON_IsNumber(v)) {
		snprintf(buf, len, "-");
		return;
	}
	s = v->valuedouble;
	if (s < 1e-6)
		snprintf(buf, len, "%.0f ns", s * 1e9);
	else if (s < 1e-3)
		snprintf(buf, len, "%.1f us", s * 1e6);
	else if (s < 1)
		snprintf(buf, len, "%.2f ms", s * 1e3);
	else
		snprintf(buf, len, "%.2f s", s);
}

static void fmt_labels(const cJSON *labels, char *buf, size_t len)
{
	size_t off = 0;
	const cJSON *l;

	buf[0] = '\0';
	cJSON_ArrayForEach(l, labels) {
		if (!cJSON_IsString(l) || off >= len)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", off ? "," : "{", l->string,
					l->valuestring);
	}
	if (off && off < len)
		snprintf(buf + off, len - off, "}");
}

/* Every row must be an object with string `type` and `metric`. */
static int validate(const cJSON *rows, struct rs_json_error *err)
{
	int i = 0;
	const cJSON *row;

	if (!cJSON_IsArray(rows)) {
		rs_json_set_error(err, "$: want an array of rows");
		return -EINVAL;
	}
	cJSON_ArrayForEach(row, rows) {
		char path[32];
		const char *s;

		snprintf(path, sizeof(path), "$[%d]", i++);
		if (!cJSON_IsObject(row)) {
			rs_json_set_error(err, "%s: want an object", path);
			return -EINVAL;
		}
		if (rs_json_get_string(row, path, "type", true, &s, err) ||
		    rs_json_get_string(row, path, "metric", true, &s, err))
			return -EINVAL;
	}
	return 0;
}

static const char *row_type(const cJSON *row)
{
	return cJSON_GetObjectItemCaseSensitive(row, "type")->valuestring;
}

static double num_or(const cJSON *row, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void print_histograms(FILE *out, const cJSON *rows)
{
	const cJSON *row;
	bool header = false;

	cJSON_ArrayForEach(row, rows) {
		char labels[512], p50[32], p90[32], p99[32], mean[32];

		if (strcmp(row_type(row), "histogram") != 0)
			continue;
		if (!header) {
			fprintf(out, "Latency histograms (log2 buckets):\n");
			fprintf(out, "  %-12s %-10s %-10s %-10s %-10s %s\n", "COUNT", "P50", "P90", "P99",
				"MEAN", "SERIES");
			header = true;
		}
		fmt_labels(cJSON_GetObjectItemCaseSensitive(row, "labels"), labels, sizeof(labels));
		fmt_seconds(cJSON_GetObjectItemCaseSensitive(row, "p50_seconds"), p50, sizeof(p50));
		fmt_seconds(cJSON_GetObjectItemCaseSensitive(row, "p90_seconds"), p90, sizeof(p90));
		fmt_seconds(cJSON_GetObjectItemCaseSensitive(row, "p99_seconds"), p99, sizeof(p99));
		fmt_seconds(cJSON_GetObjectItemCaseSensitive(row, "mean_seconds"), mean, sizeof(mean));
		fprintf(out, "  %-12.0f %-10s %-10s %-10s %-10s %s%s\n", num_or(row, "count", 0), p50,
			p90, p99, mean, cJSON_GetObjectItemCaseSensitive(row, "metric")->valuestring,
			labels);
	}
}

static void print_values(FILE *out, const cJSON *rows)
{
	const cJSON *row;
	bool header = false;

	cJSON_ArrayForEach(row, rows) {
		const char *type = row_type(row);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, "value");
		char labels[512];

		if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0)
			continue;
		if (!header) {
			fprintf(out, "Counters and gauges:\n");
			header = true;
		}
		fmt_labels(cJSON_GetObjectItemCaseSensitive(row, "labels"), labels, sizeof(labels));
		if (cJSON_IsNumber(v))
			fprintf(out, "  %-14.6g %s%s\n", v->valuedouble,
				cJSON_GetObjectItemCaseSensitive(row, "metric")->valuestring, labels);
		else
			fprintf(out, "  %-14s %s%s\n", "-",
				cJSON_GetObjectItemCaseSensitive(row, "metric")->valuestring, labels);
	}
}

static void print_workers(FILE *out, const cJSON *rows)
{
	const cJSON *row;
	bool header = false;

	cJSON_ArrayForEach(row, rows) {
		const cJSON *node = cJSON_GetObjectItemCaseSensitive(row, "ray_node_id");
		double since = num_or(row, "seconds_since_busy", -1);

		if (strcmp(row_type(row), "workers") != 0)
			continue;
		if (!header) {
			fprintf(out, "Workers:\n");
			header = true;
		}
		fprintf(out, "  raylet %.0f%s%s: %.0f busy, %.0f idle", num_or(row, "raylet_pid", 0),
			cJSON_IsString(node) && node->valuestring[0] ? " node " : "",
			cJSON_IsString(node) ? node->valuestring : "", num_or(row, "busy_workers", 0),
			num_or(row, "idle_workers", 0));
		if (since >= 0)
			fprintf(out, ", last busy %.1f s ago\n", since);
		else
			fprintf(out, ", never seen busy\n");
	}
}

static void print_timelines(FILE *out, const cJSON *rows)
{
	static const char *const phases[RS_STARTUP_PHASES] = RS_STARTUP_PHASE_NAMES_INIT;
	const cJSON *row;
	bool header = false;

	cJSON_ArrayForEach(row, rows) {
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(row, "timeline");
		const cJSON *rel = cJSON_GetObjectItemCaseSensitive(row, "phases_seconds");

		if (strcmp(row_type(row), "timeline") != 0)
			continue;
		if (!header) {
			fprintf(out, "Startup timelines (seconds after the first event):\n");
			header = true;
		}
		fprintf(out, "  %s:", cJSON_IsString(key) ? key->valuestring : "?");
		for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(rel, phases[i]);

			if (cJSON_IsNumber(v))
				fprintf(out, " %s +%.3f", phases[i], v->valuedouble);
		}
		fputc('\n', out);
	}
}

int ctl_print_summary(FILE *out, const cJSON *rows, struct rs_json_error *err)
{
	const cJSON *first;
	int err_code = validate(rows, err);

	if (err_code)
		return err_code;
	first = rows->child;
	if (!first) {
		fprintf(out, "No signals yet (no series in the maps).\n");
		return 0;
	}
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(first, "node")))
		fprintf(out, "Node %s at %s\n\n",
			cJSON_GetObjectItemCaseSensitive(first, "node")->valuestring,
			cJSON_IsString(cJSON_GetObjectItemCaseSensitive(first, "time"))
				? cJSON_GetObjectItemCaseSensitive(first, "time")->valuestring : "?");
	print_histograms(out, rows);
	print_values(out, rows);
	print_workers(out, rows);
	print_timelines(out, rows);
	return 0;
}

int ctl_print_json(FILE *out, const cJSON *json)
{
	char *text = ctl_pretty_output ? cJSON_Print(json) : cJSON_PrintUnformatted(json);

	if (!text)
		return -ENOMEM;
	fprintf(out, "%s\n", text);
	free(text);
	return 0;
}
