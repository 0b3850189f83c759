/* fuzz_agent.c -- libFuzzer targets for the agent's /proc and cgroup
 * parsers: a raylet's command line (raylet_proc.c), the lifecycle family's
 * flag and port readers (lifecycle_proc.c) and pod cgroup paths
 * (lifecycle_cgroup.c). */
#include "fuzz.h"

#include "agent/lifecycle.h"
#include "agent/lifecycle_cgroup.h"
#include "agent/raylet_proc.h"

#include <stdlib.h>

/* /proc/PID/cmdline as read: NUL-separated, the last argument maybe
 * unterminated. */
void fuzz_raylet_argv(const uint8_t *data, size_t size)
{
	char node_id[RS_NODE_ID_LEN];
	unsigned int metrics, nm;

	rs_raylet_parse_argv((const char *)data, size, node_id, sizeof(node_id), &metrics, &nm);
}

/* rs_lc_read_cmdline's buffer: NUL-separated and NUL-terminated. */
void fuzz_lc_cmdline(const uint8_t *data, size_t size)
{
	static const char *const flags[] = { "--gcs-address=", "--gcs_server_port=", "--node_id=" };
	char *buf = fuzz_cstring(data, size);

	if (!buf)
		return;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		rs_lc_parse_port(rs_lc_cmdline_flag(buf, size, flags[i]));
	free(buf);
}

void fuzz_cgroup_path(const uint8_t *data, size_t size)
{
	char uid[RS_POD_UID_LEN], *path = fuzz_cstring(data, size);

	if (path)
		rs_pod_uid_from_cgroup_path(path, uid);
	free(path);
}
