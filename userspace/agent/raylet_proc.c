/* raylet_proc.c -- raylet discovery and identity from /proc (raylet_proc.h). */
#include "agent/raylet_proc.h"
#include "common/cli.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_small(const char *path, char *buf, size_t len, size_t *got)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (got)
		*got = n;
	return 0;
}

bool rs_raylet_proc_is_raylet(pid_t pid)
{
	char path[64], comm[32];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_small(path, comm, sizeof(comm), NULL))
		return false;
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, RS_RAYLET_COMM) == 0;
}

unsigned long long rs_proc_start_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf), NULL))
		return 0;
	/* comm may hold spaces and ')': fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* After ')' come field 3 (state) ... field 22 (starttime). */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start) != 1)
		return 0;
	return start;
}

/* If `arg` (alen bytes, maybe not NUL-terminated) is flag<port>: sets *port
 * (0 when the value is bad) and returns true. */
static bool port_arg(const char *arg, size_t alen, const char *flag, unsigned int *port)
{
	size_t flen = strlen(flag);
	char tmp[16];
	long v;

	if (alen < flen || memcmp(arg, flag, flen))
		return false;
	*port = 0;
	/* Digits only: strtol (under rs_parse_long) would take " 5" and "+5". */
	if (alen - flen == 0 || alen - flen >= sizeof(tmp) || !isdigit((unsigned char)arg[flen]))
		return true;
	memcpy(tmp, arg + flen, alen - flen);
	tmp[alen - flen] = '\0';
	if (!rs_parse_long(tmp, 0, 65535, &v))
		*port = (unsigned int)v;
	return true;
}

void rs_raylet_parse_argv(const char *argv, size_t len, char *node_id, size_t node_id_len,
			  unsigned int *metrics_port, unsigned int *node_manager_port)
{
	static const char node_flag[] = "--node_id=";
	size_t i = 0;

	if (node_id_len)
		node_id[0] = '\0';
	*metrics_port = 0;
	*node_manager_port = 0;
	while (i < len) {
		const char *arg = argv + i;
		size_t alen = strnlen(arg, len - i);

		/* alen first: the last argument may run to the end of the buffer
		 * without a NUL, so strncmp could read past it. */
		if (alen >= sizeof(node_flag) - 1 && !memcmp(arg, node_flag, sizeof(node_flag) - 1)) {
			const char *v = arg + sizeof(node_flag) - 1;
			size_t vlen = alen - (sizeof(node_flag) - 1);
			bool hex = vlen > 0 && vlen < node_id_len;

			for (size_t k = 0; hex && k < vlen; k++)
				hex = isxdigit((unsigned char)v[k]);
			if (hex) {
				memcpy(node_id, v, vlen);
				node_id[vlen] = '\0';
			}
		} else if (!port_arg(arg, alen, "--metrics_export_port=", metrics_port)) {
			port_arg(arg, alen, "--node_manager_port=", node_manager_port);
		}
		i += alen + 1;
	}
}

int rs_raylet_proc_read(pid_t pid, struct rs_raylet_proc *out)
{
	char path[64], *argv;
	size_t len = 0;
	ssize_t n;
	int err;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->start_ticks = rs_proc_start_ticks(pid);
	if (!out->start_ticks)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out->exe, sizeof(out->exe) - 1);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	out->exe[n] = '\0';

	/* The raylet argv is long (worker commands are inlined): up to 64 KiB. */
	argv = malloc(65536);
	if (!argv)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	err = read_small(path, argv, 65536, &len);
	if (!err)
		rs_raylet_parse_argv(argv, len, out->node_id, sizeof(out->node_id),
				     &out->metrics_port, &out->node_manager_port);
	free(argv);
	return err;
}

int rs_raylet_proc_scan(pid_t *pids, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) && n < max) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (rs_raylet_proc_is_raylet((pid_t)pid))
			pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}
