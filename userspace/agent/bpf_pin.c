/* bpf_pin.c -- map pinning with clean replacement of stale pins (bpf_pin.h). */
#include "agent/bpf_pin.h"
#include "common/log.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "<pin_dir>/<name>" into buf; -ENAMETOOLONG if it does not fit. */
static int rs_bpf_pin_path(char *buf, size_t len, const char *pin_dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", pin_dir, name);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int rs_bpf_open_pinned(const char *pin_dir, const char *name)
{
	char path[512];
	int fd, err = rs_bpf_pin_path(path, sizeof(path), pin_dir, name);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

static int mkdir_p(const char *dir)
{
	char tmp[512];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* 1 if the pinned map at path can be reused for map, 0 if not (and why in
 * `why`), -errno if the pin cannot be inspected. */
static int pin_is_compatible(const char *path, const struct bpf_map *map,
			     char *why, size_t why_len)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	if (info.type != (__u32)bpf_map__type(map))
		snprintf(why, why_len, "type %u -> %u", info.type, bpf_map__type(map));
	else if (info.key_size != bpf_map__key_size(map))
		snprintf(why, why_len, "key_size %u -> %u", info.key_size, bpf_map__key_size(map));
	else if (info.value_size != bpf_map__value_size(map))
		snprintf(why, why_len, "value_size %u -> %u", info.value_size, bpf_map__value_size(map));
	else if (info.max_entries != bpf_map__max_entries(map))
		snprintf(why, why_len, "max_entries %u -> %u", info.max_entries, bpf_map__max_entries(map));
	else if (info.map_flags != bpf_map__map_flags(map))
		snprintf(why, why_len, "flags %#x -> %#x", info.map_flags, bpf_map__map_flags(map));
	else
		return 1;
	return 0;
}

static int pin_one(struct bpf_map *map, const char *pin_dir)
{
	const char *name = bpf_map__name(map);
	char path[512], why[96];
	int err = rs_bpf_pin_path(path, sizeof(path), pin_dir, name);

	if (err)
		return err;
	if (access(path, F_OK) == 0) {
		err = pin_is_compatible(path, map, why, sizeof(why));
		if (err == 0) {
			rs_warn("pinned map %s has an old layout (%s): replacing it", path, why);
			if (unlink(path))
				return -errno;
		} else if (err < 0) {
			rs_warn("pinned map %s cannot be inspected (%s): replacing it",
				path, strerror(-err));
			if (unlink(path))
				return -errno;
		} else {
			rs_debug("reusing pinned map %s", path);
		}
	}
	return bpf_map__set_pin_path(map, path);
}

int rs_bpf_pin_maps(struct bpf_object *obj, const char *pin_dir,
		    const char *const *map_names)
{
	int err = mkdir_p(pin_dir);

	if (err) {
		rs_error("cannot create pin dir %s: %s", pin_dir, strerror(-err));
		return err;
	}
	for (const char *const *n = map_names; *n; n++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, *n);

		if (!map) {
			rs_error("BPF object %s has no map %s", bpf_object__name(obj), *n);
			return -ENOENT;
		}
		err = pin_one(map, pin_dir);
		if (err) {
			rs_error("cannot pin map %s under %s: %s", *n, pin_dir, strerror(-err));
			return err;
		}
	}
	return 0;
}
