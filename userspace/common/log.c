/* log.c -- JSON-lines logger on stderr (see log.h). */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "raysense";
static enum rs_log_level log_min_level = RS_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void rs_log_init(const char *component, enum rs_log_level min_level)
{
	log_component = component;
	log_min_level = min_level;
}

void rs_log_set_level(enum rs_log_level min_level) { log_min_level = min_level; }
enum rs_log_level rs_log_get_level(void) { return log_min_level; }

const char *rs_log_level_name(enum rs_log_level level)
{
	if ((unsigned)level > RS_LOG_ERROR)
		return "unknown";
	return level_names[level];
}

int rs_log_parse_level(const char *s, enum rs_log_level *out)
{
	for (int i = RS_LOG_DEBUG; i <= RS_LOG_ERROR; i++) {
		if (s && strcasecmp(s, level_names[i]) == 0) {
			*out = (enum rs_log_level)i;
			return 0;
		}
	}
	if (s && strcasecmp(s, "warning") == 0) {
		*out = RS_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void rs_format_time_rfc3339(unsigned long long unix_ns, char *buf, unsigned long len)
{
	time_t secs = (time_t)(unix_ns / 1000000000ull);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(unix_ns / 1000000ull % 1000));
}

static void format_timestamp(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	rs_format_time_rfc3339((unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
			       buf, len);
}

void rs_log_fields(enum rs_log_level level, const char *msg, cJSON *fields)
{
	char ts[40];
	cJSON *line;
	char *text;

	if (level < log_min_level) {
		cJSON_Delete(fields);
		return;
	}
	line = cJSON_CreateObject();
	if (!line) {
		cJSON_Delete(fields);
		return;
	}
	format_timestamp(ts, sizeof(ts));
	cJSON_AddStringToObject(line, "ts", ts);
	cJSON_AddStringToObject(line, "level", rs_log_level_name(level));
	cJSON_AddStringToObject(line, "component", log_component);
	cJSON_AddStringToObject(line, "msg", msg ? msg : "");
	if (fields) {
		cJSON *f = fields->child;
		while (f) {
			cJSON *next = f->next;
			cJSON_DetachItemViaPointer(fields, f);
			cJSON_AddItemToObject(line, f->string, f);
			f = next;
		}
		cJSON_Delete(fields);
	}
	text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	if (!text)
		return;
	size_t n = strlen(text);
	text[n] = '\n'; /* replace NUL: one write per line keeps lines whole */
	ssize_t w = write(STDERR_FILENO, text, n + 1);
	(void)w;
	free(text);
}

void rs_log(enum rs_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (level < log_min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rs_log_fields(level, msg, NULL);
}
