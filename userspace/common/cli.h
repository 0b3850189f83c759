/* cli.h -- shared command-line conventions for every raysense binary.
 *
 * --help prints usage to stdout and exits 0; --version prints the version;
 * a bad flag or value prints a one-line error plus a hint to stderr and exits
 * 2 (EX_USAGE-like, the convention of coreutils and bpftool). */
#ifndef RAYSENSE_CLI_H
#define RAYSENSE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_EXIT_OK 0
#define RS_EXIT_FAILURE 1
#define RS_EXIT_USAGE 2

void rs_cli_print_version(const char *prog);
/* Print "prog: <message>" and "Try 'prog --help'." to stderr, exit 2. */
_Noreturn void rs_cli_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Strict number parsing: whole string must be a number within [min, max].
 * Return 0 or -EINVAL / -ERANGE. */
int rs_parse_long(const char *s, long min, long max, long *out);
int rs_parse_double(const char *s, double min, double max, double *out);
/* "host:port" or ":port" or "port"; host defaults to `default_host`.
 * host_out must hold at least 256 bytes. */
int rs_parse_listen_addr(const char *s, const char *default_host,
			 char *host_out, int *port_out);
/* Read a whole small file (e.g. a token) into a malloc'd NUL-terminated
 * string with trailing whitespace trimmed. Returns 0 or -errno. */
int rs_read_file_trimmed(const char *path, size_t max_len, char **out);
/* Read a whole file; returns 0 or -errno (-EFBIG when over max_len). */
int rs_read_file(const char *path, size_t max_len, char **out, size_t *len_out);

#endif
