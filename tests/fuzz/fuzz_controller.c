/* fuzz_controller.c -- libFuzzer targets for the controller's other inputs:
 * agent pushes (signals.c with its lease and startup-timeline reports; a
 * gzip body is inflated first, as the HTTP server does), scenario documents (scenario.c) and the config file
 * (config.c). */
#include "fuzz.h"

#include "common/gzip.h"
#include "controller/config.h"
#include "controller/plan/scenario.h"
#include "controller/source/signals.h"

#include <stdlib.h>

#define BODY(data) ((const char *)(data))
/* A small table, so that inputs fill it and exercise eviction. */
#define AGENTS 4
#define MAX_BODY (1u << 20)

void fuzz_signals(const uint8_t *data, size_t size)
{
	static struct signals *s;
	static double now;
	char err[256], *plain = NULL;
	size_t len = size;
	double age;
	int busy;

	if (!s && (!(s = signals_new()) || signals_configure(s, AGENTS, 10)))
		abort();
	now += 3;	/* every few inputs an entry is past the max age */
	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
		if (rs_gzip_decompress(data, size, MAX_BODY, &plain, &len))
			return;
	}
	signals_ingest(s, plain ? plain : BODY(data), len, now, err, sizeof(err));
	free(plain);
	signals_busy_hint(s, "abc", now, 10, &busy, &age);
	signals_node_startup(s, "abc", now, 10, &age);
	cJSON_Delete(signals_to_json(s, now));
}

void fuzz_scenario(const uint8_t *data, size_t size)
{
	struct rs_json_error err;
	struct scenario sc;

	if (!scenario_parse(BODY(data), size, &sc, &err))
		scenario_free(&sc);
}

void fuzz_config(const uint8_t *data, size_t size)
{
	struct controller_config cfg;
	char err[512];

	config_init(&cfg);
	if (!config_parse_json(&cfg, BODY(data), size, err, sizeof(err)))
		config_validate(&cfg, err, sizeof(err));
	config_free(&cfg);
}
