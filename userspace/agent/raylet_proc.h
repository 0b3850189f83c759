/* raylet_proc.h -- find raylet processes and their identity in /proc.
 *
 * A raylet is a process whose comm is "raylet" (the binary's name; Ray never
 * renames it). Its Ray node id and ports come from its argv (--node_id=<hex>,
 * --metrics_export_port=<n>, --node_manager_port=<n>, as ray start passes them);
 * its start time (field 22 of /proc/PID/stat) tells a restarted raylet that
 * reused a pid from the one we attached to. */
#ifndef RAYSENSE_AGENT_RAYLET_PROC_H
#define RAYSENSE_AGENT_RAYLET_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "raysense/raylet.h"

struct rs_raylet_proc {
	pid_t pid;
	unsigned long long start_ticks;
	unsigned int metrics_port;
	unsigned int node_manager_port;
	char exe[PATH_MAX];              /* readlink of /proc/PID/exe */
	char node_id[RS_NODE_ID_LEN];
};

/* Is pid a raylet (comm "raylet")? */
bool rs_raylet_proc_is_raylet(pid_t pid);
/* Read the identity of pid. 0, -ESRCH (gone) or -errno. */
int rs_raylet_proc_read(pid_t pid, struct rs_raylet_proc *out);
/* Start time of pid in clock ticks since boot; 0 when it is gone. */
unsigned long long rs_proc_start_ticks(pid_t pid);
/* Fill pids[] with up to max raylet pids; returns how many, or -errno. */
int rs_raylet_proc_scan(pid_t *pids, int max);
/* Parse a NUL-separated argv (as in /proc/PID/cmdline) for the node id, the
 * metrics port and the node manager port; missing or bad values are left
 * "" / 0. Exposed for unit tests. */
void rs_raylet_parse_argv(const char *argv, size_t len, char *node_id, size_t node_id_len,
			  unsigned int *metrics_port, unsigned int *node_manager_port);

#endif
