/* lifecycle_proc.c -- small /proc readers used by the lifecycle family to
 * seed its maps with Ray processes that started before the agent, and to
 * learn a raylet's node id and GCS port from its command line. */
#include "agent/lifecycle.h"
#include "common/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int rs_lc_read_cmdline(int pid, char *buf, size_t len, size_t *out_len)
{
	char path[64];
	size_t got = 0;
	int fd;

	if (len < 2)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out_len = got;
	return got ? 0 : -ENOENT; /* zombies and kernel threads have none */
}

/* flag is e.g. "--gcs-address=" ; returns a pointer into buf or NULL. */
const char *rs_lc_cmdline_flag(const char *buf, size_t len, const char *flag)
{
	size_t flen = strlen(flag);

	for (size_t off = 0; off < len;) {
		const char *arg = buf + off;
		size_t alen = strnlen(arg, len - off);

		if (alen >= flen && strncmp(arg, flag, flen) == 0)
			return arg + flen;
		off += alen + 1;
	}
	return NULL;
}

unsigned short rs_lc_parse_port(const char *addr)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	long port;

	/* Digits only: strtol (under rs_parse_long) would take " 5" and "+5". */
	if (!colon || !isdigit((unsigned char)colon[1]) || rs_parse_long(colon + 1, 1, 65535, &port))
		return 0;
	return (unsigned short)port;
}
