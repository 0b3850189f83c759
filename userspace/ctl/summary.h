/* summary.h -- human-readable summary of an agent's signals, from the rows of
 * /metrics.json (README.md, section "/metrics.json schema"). Shared by `raysensectl agent` (rows
 * fetched over HTTP) and `raysensectl maps` (rows rendered from the pinned
 * maps), so both print the same thing. */
#ifndef RAYSENSE_CTL_SUMMARY_H
#define RAYSENSE_CTL_SUMMARY_H

#include <stdio.h>
#include <cjson/cJSON.h>

#include "common/json_util.h"

/* Validate `rows` against the row shape and print the summary. Returns 0, or
 * -EINVAL with err naming the offending row when the document is malformed
 * (nothing is printed then). */
int ctl_print_summary(FILE *out, const cJSON *rows, struct rs_json_error *err);
/* Print JSON (pretty with -p) followed by a newline; returns 0 or -ENOMEM. */
int ctl_print_json(FILE *out, const cJSON *json);

#endif
