/* lifecycle_cgroup.h -- recognise Kubernetes pod cgroups by path.
 *
 * kubelet names a pod's cgroup after the pod UID in one of two layouts:
 *   cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>[/<container>]
 *   systemd driver:  /kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_with_underscores>.slice[/...]
 * The same names appear under every cgroup v1 hierarchy and under the
 * cgroup v2 tree, possibly below a prefix (e.g. a nested container's root).
 * The parser is pure so it is unit-tested on a table (test_cgroup_parse.c). */
#ifndef RAYSENSE_AGENT_LIFECYCLE_CGROUP_H
#define RAYSENSE_AGENT_LIFECYCLE_CGROUP_H

#include <stddef.h>

#define RS_POD_UID_LEN 37 /* 36 chars of a UUID + NUL */

/* Find the pod UID in a cgroup path. On success writes the UID in its
 * canonical dashed form ("0f7c...-...") into uid and returns 0. Returns
 * -ENOENT when the path is not inside a pod cgroup, -EINVAL for a NULL or
 * malformed path (e.g. "pod" followed by something that is not a UUID). */
int rs_pod_uid_from_cgroup_path(const char *path, char uid[RS_POD_UID_LEN]);

#endif
