/* lifecycle.h -- the "lifecycle" probe family (bpf/lifecycle.bpf.c): worker
 * startup and activity per raylet, node/pod startup timelines, and the
 * connections the head's gcs_server accepts. */
#ifndef RAYSENSE_AGENT_LIFECYCLE_H
#define RAYSENSE_AGENT_LIFECYCLE_H

#include "agent/family_names.h"

#include "agent/probe.h"

extern const struct rs_probe_family rs_lifecycle_family;

/* Families this probe family exports (HELP/TYPE in snapshot.c). */

/* The probes keep updating the lifecycle maps while userspace walks them,
 * and an update re-links an element at its bucket's head; a bound (far above
 * any map's max_entries) guarantees a walk ends even if it keeps meeting
 * moved keys. Every get_next_key walk of a probe-updated map uses it. */
#define RS_LC_MAP_WALK_LIMIT (1 << 16)

/* collect() of the family (lifecycle_collect.c); attach, poll and detach
 * are reached through rs_lifecycle_family (lifecycle.c). */
int rs_lifecycle_collect(const char *pin_dir, struct rs_snapshot *snap);

/* Shared helpers (lifecycle_proc.c): read /proc/<pid>/cmdline into buf
 * (NUL-separated, NUL-terminated); value of "--<name>=" in it. */
int rs_lc_read_cmdline(int pid, char *buf, size_t len, size_t *out_len);
const char *rs_lc_cmdline_flag(const char *buf, size_t len, const char *flag);
/* Port of "host:port" / "[v6]:port"; 0 when absent or malformed. */
unsigned short rs_lc_parse_port(const char *addr);

#endif
