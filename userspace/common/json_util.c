/* json_util.c -- strict cJSON accessors with path-naming errors (see json_util.h). */
#include "common/json_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Objects with at most this many members are checked for duplicate keys
 * pairwise (n^2/2 compares beat a malloc and a sort at this size). */
#define SMALL_OBJECT_MEMBERS 16

void rs_json_set_error(struct rs_json_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Length of the well-formed UTF-8 sequence at p (n bytes left), 0 when it is
 * not one (overlong forms, surrogates and code points past U+10FFFF too). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned int cp, min;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2, cp = p[0] & 0x1fu, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, cp = p[0] & 0x0fu, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4, cp = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* The string literals of a document cJSON accepted: UTF-8, no control
 * character, no NUL escape.  Messages name byte base + offset. */
static int check_strings(const char *buf, size_t len, struct rs_json_error *err, size_t base)
{
	const unsigned char *p = (const unsigned char *)buf;
	bool in = false;
	size_t i = 0, n;

	while (i < len) {
		if (!in || p[i] == '"') {
			in = in ? false : p[i] == '"';
			i++;
		} else if (p[i] == '\\') {
			if (len - i >= 6 && p[i + 1] == 'u' && !memcmp(p + i + 2, "0000", 4))
				goto nul;
			i += 2;
		} else if (p[i] < 0x20) {
			rs_json_set_error(err, "control character in a string at byte %zu", base + i);
			return -EINVAL;
		} else if ((n = utf8_len(p + i, len - i)) == 0) {
			rs_json_set_error(err, "invalid UTF-8 in a string at byte %zu", base + i);
			return -EINVAL;
		} else {
			i += n;
		}
	}
	return 0;
nul:
	rs_json_set_error(err, "NUL character (\\u0000) in a string at byte %zu", base + i);
	return -EINVAL;
}

void rs_json_syntax_error(struct rs_json_error *err, const char *doc, size_t len, size_t off)
{
	size_t last = len;

	/* A parse that stops at the document's last non-blank byte means the
	 * input ended too early. */
	while (last > 0 && (doc[last - 1] == ' ' || doc[last - 1] == '\n' ||
			    doc[last - 1] == '\r' || doc[last - 1] == '\t'))
		last--;
	rs_json_set_error(err, "malformed JSON at byte %zu of %zu%s", off, len,
			  off + 1 >= last ? " (truncated?)" : "");
}

int rs_json_parse_at(const char *doc, size_t len, size_t *pos, cJSON **out,
		     struct rs_json_error *err)
{
	const char *start = doc + *pos, *end = NULL;
	cJSON *item;

	item = cJSON_ParseWithLengthOpts(start, len - *pos, &end, false);
	if (!item) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = (at && at >= doc && at <= doc + len) ? (size_t)(at - doc) : len;

		rs_json_syntax_error(err, doc, len, off);
		return -EINVAL;
	}
	if (check_strings(start, (size_t)(end - start), err, (size_t)(start - doc))) {
		cJSON_Delete(item);
		return -EINVAL;
	}
	*pos = (size_t)(end - doc);
	*out = item;
	return 0;
}

int rs_json_check_trailing(const char *doc, size_t len, size_t pos, struct rs_json_error *err)
{
	for (const char *p = doc + pos; p < doc + len; p++) {
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
			rs_json_set_error(err, "trailing data at byte %zu of %zu",
					  (size_t)(p - doc), len);
			return -EINVAL;
		}
	}
	return 0;
}

int rs_json_parse(const char *buf, size_t len, cJSON **out, struct rs_json_error *err)
{
	size_t pos = 0;
	cJSON *root;

	if (!buf || len == 0) {
		rs_json_set_error(err, "empty document");
		return -EINVAL;
	}
	if (rs_json_parse_at(buf, len, &pos, &root, err))
		return -EINVAL;
	/* Only whitespace may follow the value. */
	if (rs_json_check_trailing(buf, len, pos, err)) {
		cJSON_Delete(root);
		return -EINVAL;
	}
	*out = root;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int duplicate_key(const char *name, struct rs_json_error *err)
{
	rs_json_set_error(err, "duplicate key '%.64s'", name);
	return -EINVAL;
}

/* Duplicate member names of one object: pairwise for the small objects an
 * agent push is made of (no allocation: the controller checks 10,000 pushes
 * a second), else a sorted copy of the name pointers. */
static int check_object_keys(const cJSON *obj, struct rs_json_error *err)
{
	const char **names;
	const cJSON *it, *prev;
	size_t n = 0;
	int rc = 0;

	if (cJSON_GetArraySize(obj) <= SMALL_OBJECT_MEMBERS) {
		cJSON_ArrayForEach(it, obj)
			for (prev = obj->child; prev != it; prev = prev->next)
				if (!strcmp(rs_json_key(prev), rs_json_key(it)))
					return duplicate_key(rs_json_key(it), err);
		return 0;
	}
	names = malloc(((size_t)cJSON_GetArraySize(obj) + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	cJSON_ArrayForEach(it, obj)
		names[n++] = rs_json_key(it);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 1; i < n && !rc; i++) {
		if (!strcmp(names[i - 1], names[i]))
			rc = duplicate_key(names[i], err);
	}
	free(names);
	return rc;
}

int rs_json_check_unique_keys(const cJSON *root, struct rs_json_error *err)
{
	const cJSON *it;
	int rc;

	if (cJSON_IsObject(root) && (rc = check_object_keys(root, err)))
		return rc;
	cJSON_ArrayForEach(it, root)
		if ((rc = rs_json_check_unique_keys(it, err)))
			return rc;
	return 0;
}

const char *rs_json_key(const cJSON *item)
{
	return item && item->string ? item->string : "";
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
	if (!isfinite(item->valuedouble)) {
		rs_json_set_error(err, "%s.%s: number out of range", path, key);
		return -EINVAL;
	}
	*out = item->valuedouble;
	return 0;
}

int rs_json_int_value(const cJSON *v, const char *path, int64_t min, int64_t max,
		      int64_t *out, struct rs_json_error *err)
{
	double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;

	/* The bounds as doubles: exact for |x| <= 2^53, which covers every use. */
	if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max) {
		rs_json_set_error(err, "%s: expected a whole number in %lld..%lld", path,
				  (long long)min, (long long)max);
		return -EINVAL;
	}
	*out = (int64_t)d;
	return 0;
}

int rs_json_get_int(const cJSON *obj, const char *path, const char *key, bool required,
		    int64_t min, int64_t max, int64_t *out, struct rs_json_error *err)
{
	const cJSON *item;
	char where[256];
	int rc = lookup(obj, path, key, required, &item, err);

	if (rc)
		return rc;
	snprintf(where, sizeof(where), "%s.%s", path, key);
	return rs_json_int_value(item, where, min, max, out, err);
}

int rs_json_get_str(const cJSON *obj, const char *path, const char *key, bool required,
		    size_t max_len, const char **out, struct rs_json_error *err)
{
	const char *s = NULL;
	int rc = rs_json_get_string(obj, path, key, required, &s, err);

	if (rc)
		return rc;
	if (max_len && strlen(s) > max_len) {
		rs_json_set_error(err, "%s.%s: longer than %zu bytes", path, key, max_len);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

int rs_json_get_string(const cJSON *obj, const char *path, const char *key,
		       bool required, const char **out, struct rs_json_error *err)
{
	const cJSON *item;
	int rc = lookup(obj, path, key, required, &item, err);

	if (rc)
		return rc;
	if (!cJSON_IsString(item) || !item->valuestring) {
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

const char *rs_json_opt_str(const cJSON *obj, const char *key)
{
	const char *s = NULL;

	return rs_json_get_str(obj, "$", key, false, 0, &s, NULL) ? NULL : s;
}
