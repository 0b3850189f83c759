/* json_util.c -- strict cJSON accessors with path-naming errors (see json_util.h). */
#include "common/json_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void rs_json_set_error(struct rs_json_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

int rs_json_parse(const char *buf, size_t len, cJSON **out, struct rs_json_error *err)
{
	const char *end = NULL;
	cJSON *root;

	if (!buf || len == 0) {
		rs_json_set_error(err, "empty document");
		return -EINVAL;
	}
	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = (at && at >= buf && at <= buf + len) ? (size_t)(at - buf) : len;
		size_t last = len;

		/* cJSON stops at the last token it could read: when that is the
		 * document's last non-blank byte, the input ended too early. */
		while (last > 0 && (buf[last - 1] == ' ' || buf[last - 1] == '\n' ||
				    buf[last - 1] == '\r' || buf[last - 1] == '\t'))
			last--;
		rs_json_set_error(err, "malformed JSON at byte %zu of %zu%s", off, len,
				  off + 1 >= last ? " (truncated?)" : "");
		return -EINVAL;
	}
	/* Only whitespace may follow the value. */
	for (const char *p = end; p && p < buf + len; p++) {
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
			rs_json_set_error(err, "trailing data at byte %zu of %zu",
					  (size_t)(p - buf), len);
			cJSON_Delete(root);
			return -EINVAL;
		}
	}
	*out = root;
	return 0;
}

static int lookup(const cJSON *obj, const char *path, const char *key, bool required,
		  const cJSON **item, struct rs_json_error *err)
{
	if (!cJSON_IsObject(obj)) {
		rs_json_set_error(err, "%s: expected an object", path);
		return -EINVAL;
	}
	*item = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!*item || cJSON_IsNull(*item)) {
		if (required) {
			rs_json_set_error(err, "%s.%s: required field is missing", path, key);
			return -EINVAL;
		}
		return -ENOENT;
	}
	return 0;
}

int rs_json_get_number(const cJSON *obj, const char *path, const char *key,
		       bool required, double *out, struct rs_json_error *err)
{
	const cJSON *item;
	int rc = lookup(obj, path, key, required, &item, err);

	if (rc)
		return rc;
	if (!cJSON_IsNumber(item)) {
		rs_json_set_error(err, "%s.%s: expected a number", path, key);
		return -EINVAL;
	}
	*out = item->valuedouble;
	return 0;
}

int rs_json_get_string(const cJSON *obj, const char *path, const char *key,
		       bool required, const char **out, struct rs_json_error *err)
{
	const cJSON *item;
	int rc = lookup(obj, path, key, required, &item, err);

	if (rc)
		return rc;
	if (!cJSON_IsString(item)) {
		rs_json_set_error(err, "%s.%s: expected a string", path, key);
		return -EINVAL;
	}
	*out = item->valuestring;
	return 0;
}

int rs_json_get_bool(const cJSON *obj, const char *path, const char *key,
		     bool required, bool *out, struct rs_json_error *err)
{
	const cJSON *item;
	int rc = lookup(obj, path, key, required, &item, err);

	if (rc)
		return rc;
	if (!cJSON_IsBool(item)) {
		rs_json_set_error(err, "%s.%s: expected true or false", path, key);
		return -EINVAL;
	}
	*out = cJSON_IsTrue(item);
	return 0;
}

int rs_json_get_object(const cJSON *obj, const char *path, const char *key,
		       bool required, const cJSON **out, struct rs_json_error *err)
{
	const cJSON *item;
	int rc = lookup(obj, path, key, required, &item, err);

	if (rc)
		return rc;
	if (!cJSON_IsObject(item)) {
		rs_json_set_error(err, "%s.%s: expected an object", path, key);
		return -EINVAL;
	}
	*out = item;
	return 0;
}

int rs_json_get_array(const cJSON *obj, const char *path, const char *key,
		      bool required, const cJSON **out, struct rs_json_error *err)
{
	const cJSON *item;
	int rc = lookup(obj, path, key, required, &item, err);

	if (rc)
		return rc;
	if (!cJSON_IsArray(item)) {
		rs_json_set_error(err, "%s.%s: expected an array", path, key);
		return -EINVAL;
	}
	*out = item;
	return 0;
}

/* Only keys in `allowed` (NULL-terminated) or starting with '_'. */
int rs_json_check_keys(const cJSON *obj, const char *path, const char *const *allowed,
		      struct rs_json_error *err)
{
	const cJSON *it, *prev;
	cJSON_ArrayForEach(it, obj) {
		for (prev = obj->child; prev != it; prev = prev->next)
			if (prev->string && it->string && strcmp(prev->string, it->string) == 0) {
				rs_json_set_error(err, "%s: field '%s' appears twice", path,
						  it->string);
				return -EINVAL;
			}
		bool ok = it->string && it->string[0] == '_';
		for (size_t i = 0; !ok && allowed[i]; i++)
			ok = strcmp(it->string, allowed[i]) == 0;
		if (!ok) {
			rs_json_set_error(err, "%s: unknown field '%s'", path,
					  it->string ? it->string : "");
			return -EINVAL;
		}
	}
	return 0;
}

/* An optional whole number in [min, max]; absent leaves *out unchanged. */
int rs_json_get_whole(const cJSON *obj, const char *path, const char *key, bool required,
		   long min, long max, long *out, struct rs_json_error *err)
{
	double v;
	int rc = rs_json_get_number(obj, path, key, required, &v, err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (!isfinite(v) || v != floor(v)) {
		rs_json_set_error(err, "%s.%s: expected a whole number", path, key);
		return -EINVAL;
	}
	if (v < (double)min || v > (double)max) {
		rs_json_set_error(err, "%s.%s: %.17g is out of range [%ld, %ld]", path, key,
				  v, min, max);
		return -EINVAL;
	}
	*out = (long)v;
	return 0;
}

/* An optional number in [min, +inf); absent leaves *out unchanged. */
int rs_json_get_nonneg(const cJSON *obj, const char *path, const char *key, double *out,
		      struct rs_json_error *err)
{
	double v;
	int rc = rs_json_get_number(obj, path, key, false, &v, err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (!isfinite(v) || v < 0) {
		rs_json_set_error(err, "%s.%s: must be a finite number >= 0", path, key);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
