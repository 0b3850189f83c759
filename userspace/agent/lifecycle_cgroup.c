/* lifecycle_cgroup.c -- pod UID from a kubelet cgroup path (see the header
 * for the two layouts). Strict: a segment counts only when the text after
 * "pod" is a full UUID, so "kubepods" or "podman-..." never match. */
#include "agent/lifecycle_cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Parse 36 UUID characters where the dashes may be written as '_' (systemd
 * escapes '-' in unit names). Writes the dashed form. */
static int parse_uuid(const char *s, size_t len, char out[RS_POD_UID_LEN])
{
	static const size_t dash_at[] = { 8, 13, 18, 23 };
	size_t d = 0;

	if (len != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		if (d < 4 && i == dash_at[d]) {
			if (s[i] != '-' && s[i] != '_')
				return -EINVAL;
			out[i] = '-';
			d++;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[36] = '\0';
	return 0;
}

/* One path segment [seg, seg+len). Returns 0 with uid set, -ENOENT when the
 * segment is not a pod segment, -EINVAL when it looks like one but the UID
 * is malformed. */
static int parse_segment(const char *seg, size_t len, char uid[RS_POD_UID_LEN])
{
	static const char slice[] = ".slice";
	const size_t slen = sizeof(slice) - 1;

	/* cgroupfs: "pod<uid>" */
	if (len > 3 && strncmp(seg, "pod", 3) == 0)
		return parse_uuid(seg + 3, len - 3, uid);
	/* systemd: "kubepods[-qos]-pod<uid>.slice" */
	if (len > slen && strncmp(seg, "kubepods", 8) == 0 &&
	    memcmp(seg + len - slen, slice, slen) == 0) {
		const char *end = seg + len - slen;
		const char *p = NULL;

		for (const char *q = seg; q + 4 <= end; q++)
			if (memcmp(q, "-pod", 4) == 0)
				p = q;
		if (!p)
			return -ENOENT; /* kubepods-burstable.slice: a QoS slice */
		return parse_uuid(p + 4, (size_t)(end - (p + 4)), uid);
	}
	return -ENOENT;
}

int rs_pod_uid_from_cgroup_path(const char *path, char uid[RS_POD_UID_LEN])
{
	const char *seg = path;
	int kubepods_seen = 0;

	if (!path || !uid)
		return -EINVAL;
	while (*seg) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);

		if (len >= 8 && strncmp(seg, "kubepods", 8) == 0)
			kubepods_seen = 1;
		if (len > 0 && kubepods_seen) {
			int err = parse_segment(seg, len, uid);

			if (err != -ENOENT)
				return err;
		}
		if (!end)
			break;
		seg = end + 1;
	}
	return -ENOENT;
}
