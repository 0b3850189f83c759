/* resmap.c -- owned resource maps and the dashboard's camelCase key mangling
 * (see resmap.h). */
#include "controller/plan/resmap.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct planner_resource *find_mut(struct resmap *m, const char *name)
{
	for (size_t i = 0; i < m->count; i++)
		if (strcmp(m->items[i].name, name) == 0)
			return &m->items[i];
	return NULL;
}

const struct planner_resource *resmap_find(const struct resmap *m, const char *name)
{
	return find_mut((struct resmap *)m, name);
}

static int append(struct resmap *m, const char *name, double value)
{
	char *copy;

	if (m->count == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct planner_resource *items = realloc(m->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		m->items = items;
		m->cap = cap;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	m->items[m->count].name = copy;
	m->items[m->count].value = value;
	m->count++;
	return 0;
}

int resmap_set(struct resmap *m, const char *name, double value)
{
	struct planner_resource *r;

	if (!name)	/* e.g. the key of an array item where a map was expected */
		return -EINVAL;
	r = find_mut(m, name);

	if (r) {
		r->value = value;
		return 0;
	}
	return append(m, name, value);
}

int resmap_add(struct resmap *m, const char *name, double value)
{
	struct planner_resource *r;

	if (!name)
		return -EINVAL;
	r = find_mut(m, name);

	if (r) {
		r->value += value;
		return 0;
	}
	return append(m, name, value);
}

double resmap_get(const struct resmap *m, const char *name, double dflt)
{
	const struct planner_resource *r = resmap_find(m, name);

	return r ? r->value : dflt;
}

int resmap_copy(struct resmap *dst, const struct resmap *src)
{
	for (size_t i = 0; i < src->count; i++) {
		int rc = resmap_set(dst, src->items[i].name, src->items[i].value);

		if (rc)
			return rc;
	}
	return 0;
}

bool resmap_equal(const struct resmap *a, const struct resmap *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct planner_resource *r = resmap_find(b, a->items[i].name);

		if (!r || r->value != a->items[i].value)
			return false;
	}
	return true;
}

void resmap_free(struct resmap *m)
{
	for (size_t i = 0; i < m->count; i++)
		free((char *)m->items[i].name);
	free(m->items);
	memset(m, 0, sizeof(*m));
}

int resmap_from_json(struct resmap *m, const cJSON *obj, const char *path,
		     bool keep_zero, struct rs_json_error *err)
{
	const cJSON *it;

	if (!cJSON_IsObject(obj)) {
		rs_json_set_error(err, "%s: expected an object of resource amounts", path);
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, obj) {
		int rc;

		if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0) {
			rs_json_set_error(err, "%s.%s: expected a finite number >= 0", path,
					  it->string ? it->string : "?");
			return -EINVAL;
		}
		if (!it->string || !it->string[0]) {
			rs_json_set_error(err, "%s: empty resource name", path);
			return -EINVAL;
		}
		if (it->valuedouble == 0 && !keep_zero)
			continue;
		rc = resmap_set(m, it->string, it->valuedouble);
		if (rc)
			return rc;
	}
	return 0;
}

cJSON *resources_to_json(const struct planner_resources *r)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < r->count; i++)
		cJSON_AddNumberToObject(o, r->items[i].name, r->items[i].value);
	return o;
}

cJSON *resmap_to_json(const struct resmap *m)
{
	struct planner_resources v = resmap_view(m);

	return resources_to_json(&v);
}

/* Python's str.title() on ASCII: a letter is upper-cased when the previous
 * character is not a letter, lower-cased otherwise. */
static size_t title_into(const char *s, size_t n, char *out, size_t room)
{
	bool prev_cased = false;
	size_t w = 0;

	for (size_t i = 0; i < n && w + 1 < room; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalpha(c)) {
			out[w++] = (char)(prev_cased ? tolower(c) : toupper(c));
			prev_cased = true;
		} else {
			out[w++] = (char)c;
			prev_cased = false;
		}
	}
	return w;
}

void ray_camel_case(const char *name, char *out, size_t size)
{
	const char *us = strchr(name, '_');
	size_t w;

	if (!size)
		return;
	if (!us) {
		snprintf(out, size, "%s", name);
		return;
	}
	w = (size_t)(us - name);
	if (w >= size)
		w = size - 1;
	memcpy(out, name, w);
	for (const char *p = us; *p == '_' && w + 1 < size;) {
		const char *part = p + 1;
		const char *next = strchr(part, '_');
		size_t n = next ? (size_t)(next - part) : strlen(part);

		w += title_into(part, n, out + w, size - w);
		if (!next)
			break;
		p = next;
	}
	out[w] = '\0';
}
