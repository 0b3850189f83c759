/* json_util.h -- strict helpers over cJSON for parsing untrusted documents
 * (dashboard answers, scenarios, Kubernetes objects, agent snapshots).
 * Each helper reports a human-readable error naming the JSON path. */
#ifndef RAYSENSE_JSON_UTIL_H
#define RAYSENSE_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct rs_json_error {
	char msg[512];
};

/* Parse exactly `len` bytes; trailing garbage, truncation and nesting deeper
 * than cJSON's limit fail with -EINVAL and a message with the byte offset.
 * Strings must be valid UTF-8 without control characters or NUL (raw or
 * \u0000): cJSON would keep them and cut the C string short at the NUL. */
int rs_json_parse(const char *buf, size_t len, cJSON **out, struct rs_json_error *err);
/* One value of a larger document, for readers that walk a big document a
 * member or an array entry at a time instead of holding it as one tree:
 * parses the value starting at doc[*pos] (leading blanks allowed), with the
 * string checks of rs_json_parse, and moves *pos past it.  Messages name
 * byte offsets in doc.  0 or -EINVAL. */
int rs_json_parse_at(const char *doc, size_t len, size_t *pos, cJSON **out,
		     struct rs_json_error *err);
/* Only whitespace from doc[pos] on; else -EINVAL ("trailing data at byte"). */
int rs_json_check_trailing(const char *doc, size_t len, size_t pos, struct rs_json_error *err);
/* Sets rs_json_parse's message for a syntax error at byte off of doc. */
void rs_json_syntax_error(struct rs_json_error *err, const char *doc, size_t len, size_t off);

/* Every object in the document has distinct member names (cJSON keeps
 * duplicates and lookups see only the first).  0 or -EINVAL. */
int rs_json_check_unique_keys(const cJSON *root, struct rs_json_error *err);

/* Typed member access. `path` is the parent's path for messages ("$.nodes[2]").
 * A member holding null counts as missing.  Numbers must be finite.
 * Return 0, -ENOENT (missing; only when !required, *out untouched), or -EINVAL. */
int rs_json_get_number(const cJSON *obj, const char *path, const char *key,
		       bool required, double *out, struct rs_json_error *err);
int rs_json_get_string(const cJSON *obj, const char *path, const char *key,
		       bool required, const char **out, struct rs_json_error *err);
/* A string of at most max_len bytes (0: any length); a longer one is
 * -EINVAL.  *out is never NULL on success. */
int rs_json_get_str(const cJSON *obj, const char *path, const char *key, bool required,
		    size_t max_len, const char **out, struct rs_json_error *err);
/* Optional string member: NULL when missing, null or not a string. */
const char *rs_json_opt_str(const cJSON *obj, const char *key);
/* A whole number in [min, max] (say 0..INT32_MAX for a Kubernetes int32):
 * a fraction, an infinity or a value out of range is -EINVAL. */
int rs_json_get_int(const cJSON *obj, const char *path, const char *key, bool required,
		    int64_t min, int64_t max, int64_t *out, struct rs_json_error *err);
/* The same check for a value already at hand (an array item, a map value);
 * `path` names the value itself. */
int rs_json_int_value(const cJSON *v, const char *path, int64_t min, int64_t max,
		      int64_t *out, struct rs_json_error *err);
/* Member name of an item of an object; "" for an array item (cJSON leaves
 * it NULL), so a map walked with cJSON_ArrayForEach never yields NULL. */
const char *rs_json_key(const cJSON *item);
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
