/* test_cgroup_parse.c -- table test of the pod UID parser over the kubelet
 * cgroupfs and systemd layouts, cgroup v1 and v2 paths, container
 * sub-cgroups, and bad input (non-pods, malformed UIDs, NULL). */
#include "check.h"
#include "agent/lifecycle_cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


#define UID "0f7cbb2e-5a3c-4e0e-9d5c-1a2b3c4d5e6f"

struct row {
	const char *path;
	int want_err;
	const char *want_uid;
};

static const struct row rows[] = {
	/* cgroupfs driver, v1 (per-hierarchy path) and v2 (unified) */
	{ "/kubepods/burstable/pod" UID, 0, UID },
	{ "/kubepods/besteffort/pod" UID, 0, UID },
	{ "/kubepods/pod" UID, 0, UID }, /* Guaranteed QoS */
	{ "/kubepods/burstable/pod" UID "/3f1e0c8d9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d", 0, UID },
	/* systemd driver */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f7cbb2e_5a3c_4e0e_9d5c_1a2b3c4d5e6f.slice",
	  0, UID },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f7cbb2e_5a3c_4e0e_9d5c_1a2b3c4d5e6f.slice",
	  0, UID },
	{ "/kubepods.slice/kubepods-pod0f7cbb2e_5a3c_4e0e_9d5c_1a2b3c4d5e6f.slice", 0, UID },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f7cbb2e_5a3c_4e0e_9d5c_1a2b3c4d5e6f.slice/"
	  "cri-containerd-3f1e0c8d9a7b.scope", 0, UID },
	/* upper case hex is normalised */
	{ "/kubepods/burstable/pod0F7CBB2E-5A3C-4E0E-9D5C-1A2B3C4D5E6F", 0, UID },
	/* below a prefix (nested runtime, kind node) */
	{ "/system.slice/docker-abc.scope/kubepods/burstable/pod" UID, 0, UID },
	/* not pods */
	{ "/kubepods", -ENOENT, NULL },
	{ "/kubepods/burstable", -ENOENT, NULL },
	{ "/kubepods.slice", -ENOENT, NULL },
	{ "/kubepods.slice/kubepods-burstable.slice", -ENOENT, NULL },
	{ "/system.slice/podman-1234.scope", -ENOENT, NULL },
	{ "/user.slice/pod" UID, -ENOENT, NULL }, /* no kubepods ancestor */
	{ "/", -ENOENT, NULL },
	{ "", -ENOENT, NULL },
	/* malformed pod segments */
	{ "/kubepods/burstable/pod", -ENOENT, NULL },
	{ "/kubepods/burstable/pod1234", -EINVAL, NULL },
	{ "/kubepods/burstable/pod0f7cbb2e-5a3c-4e0e-9d5c-1a2b3c4d5e6g", -EINVAL, NULL },
	{ "/kubepods/burstable/pod0f7cbb2e-5a3c-4e0e-9d5c-1a2b3c4d5e6f0", -EINVAL, NULL },
	{ "/kubepods/burstable/pod0f7cbb2e+5a3c-4e0e-9d5c-1a2b3c4d5e6f", -EINVAL, NULL },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podnotauuid.slice", -EINVAL, NULL },
	{ NULL, 0, NULL },
};

int main(void)
{
	char uid[RS_POD_UID_LEN];

	for (const struct row *r = rows; r->path; r++) {
		int err;

		memset(uid, 'x', sizeof(uid));
		err = rs_pod_uid_from_cgroup_path(r->path, uid);
		if (err != r->want_err) {
			check_failures++;
			fprintf(stderr, "path %s: got %d want %d\n", r->path, err, r->want_err);
			continue;
		}
		if (r->want_uid && strcmp(uid, r->want_uid) != 0) {
			check_failures++;
			fprintf(stderr, "path %s: uid %.37s want %s\n", r->path, uid, r->want_uid);
		}
	}
	if (rs_pod_uid_from_cgroup_path(NULL, uid) != -EINVAL) {
		check_failures++;
		fprintf(stderr, "NULL path: want -EINVAL\n");
	}
	if (check_failures)
		fprintf(stderr, "test_cgroup_parse: %d failure(s)\n", check_failures);
	return check_failures ? 1 : 0;
}
