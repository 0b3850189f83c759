/* bpf_pin.h -- pin the maps of a BPF object by name under the pin dir,
 * reusing pins whose layout matches and replacing those whose layout changed.
 *
 * libbpf reuses a pinned map only when type, key/value size, max_entries and
 * flags all match, and fails the whole load otherwise. A new agent version
 * that changes a map must not be stuck behind an old pin, so we check first,
 * unlink a mismatching pin (logging what changed) and let libbpf recreate it. */
#ifndef RAYSENSE_AGENT_BPF_PIN_H
#define RAYSENSE_AGENT_BPF_PIN_H

#include <bpf/libbpf.h>
#include <stddef.h>

/* Set the pin path <pin_dir>/<name> on each named map of obj (before load),
 * creating pin_dir if needed. Returns 0 or -errno. */
int rs_bpf_pin_maps(struct bpf_object *obj, const char *pin_dir,
		    const char *const *map_names);

/* Open a pinned map read-only-ish by path; returns fd or -errno. */
int rs_bpf_open_pinned(const char *pin_dir, const char *name);

#endif
