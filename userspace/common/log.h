/* log.h -- structured logging: one JSON object per line on stderr.
 *
 * Every line carries "ts" (RFC 3339, UTC, ms), "level", "component" and "msg";
 * rs_log_fields() adds caller-supplied fields, so operators can grep or jq the
 * stream. Thread-safe: each line is written with a single write(2). */
#ifndef RAYSENSE_LOG_H
#define RAYSENSE_LOG_H

#include <cjson/cJSON.h>

enum rs_log_level {
	RS_LOG_DEBUG = 0,
	RS_LOG_INFO = 1,
	RS_LOG_WARN = 2,
	RS_LOG_ERROR = 3,
};

/* Set the component name ("agent", "controller", ...) and minimum level. */
void rs_log_init(const char *component, enum rs_log_level min_level);
void rs_log_set_level(enum rs_log_level min_level);
enum rs_log_level rs_log_get_level(void);
/* Parse "debug|info|warn|error"; returns 0 or -EINVAL. */
int rs_log_parse_level(const char *s, enum rs_log_level *out);
const char *rs_log_level_name(enum rs_log_level level);

/* "2026-11-27T07:26:46.123Z" (RFC 3339, UTC, milliseconds); len >= 32. */
void rs_format_time_rfc3339(unsigned long long unix_ns, char *buf, unsigned long len);

/* printf-style message. */
void rs_log(enum rs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Message plus structured fields; takes ownership of `fields` (may be NULL). */
void rs_log_fields(enum rs_log_level level, const char *msg, cJSON *fields);

#define rs_debug(...) rs_log(RS_LOG_DEBUG, __VA_ARGS__)
#define rs_info(...) rs_log(RS_LOG_INFO, __VA_ARGS__)
#define rs_warn(...) rs_log(RS_LOG_WARN, __VA_ARGS__)
#define rs_error(...) rs_log(RS_LOG_ERROR, __VA_ARGS__)

#endif
