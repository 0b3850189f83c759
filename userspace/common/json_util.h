/* json_util.h -- strict helpers over cJSON for parsing untrusted documents
 * (dashboard answers, scenarios, Kubernetes objects, agent snapshots).
 * Each helper reports a human-readable error naming the JSON path. */
#ifndef RAYSENSE_JSON_UTIL_H
#define RAYSENSE_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

struct rs_json_error {
	char msg[512];
};

/* Parse exactly `len` bytes; trailing garbage, truncation and nesting deeper
 * than cJSON's limit fail with -EINVAL and a message with the byte offset. */
int rs_json_parse(const char *buf, size_t len, cJSON **out, struct rs_json_error *err);

/* Typed member access. `path` is the parent's path for messages ("$.nodes[2]").
 * Return 0, -ENOENT (missing; only when !required, *out untouched), or -EINVAL. */
int rs_json_get_number(const cJSON *obj, const char *path, const char *key,
		       bool required, double *out, struct rs_json_error *err);
int rs_json_get_string(const cJSON *obj, const char *path, const char *key,
		       bool required, const char **out, struct rs_json_error *err);
int rs_json_get_bool(const cJSON *obj, const char *path, const char *key,
		     bool required, bool *out, struct rs_json_error *err);
/* Object/array member; -EINVAL if present with the wrong type. */
int rs_json_get_object(const cJSON *obj, const char *path, const char *key,
		       bool required, const cJSON **out, struct rs_json_error *err);
int rs_json_get_array(const cJSON *obj, const char *path, const char *key,
		      bool required, const cJSON **out, struct rs_json_error *err);

/* Only keys in `allowed` (NULL-terminated) or starting with '_' (comments),
 * each at most once.  0 or -EINVAL. */
int rs_json_check_keys(const cJSON *obj, const char *path, const char *const *allowed,
		       struct rs_json_error *err);
/* A whole number in [min, max]; absent (and !required) leaves *out unchanged
 * and returns 0. */
int rs_json_get_whole(const cJSON *obj, const char *path, const char *key, bool required,
		      long min, long max, long *out, struct rs_json_error *err);
/* An optional finite number >= 0; absent leaves *out unchanged. */
int rs_json_get_nonneg(const cJSON *obj, const char *path, const char *key, double *out,
		       struct rs_json_error *err);

void rs_json_set_error(struct rs_json_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
