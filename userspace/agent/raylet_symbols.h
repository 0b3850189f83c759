/* raylet_symbols.h -- find the lease probe points in a raylet binary.
 *
 * The raylet ships with a full .symtab but no DWARF. Symbols are matched on
 * their mangled names by pattern (prefix, required substrings, suffix), with
 * one alternative per Ray era, so that both the Task-era names
 * (LocalTaskManager, Dispatch, TaskSpecification) and the Lease-era names
 * (LocalLeaseManager, Grant, LeaseSpecification) resolve. Clones such as
 * ".cold" or ".isra.0" are never chosen: a uprobe must sit on the real entry. */
#ifndef RAYSENSE_AGENT_RAYLET_SYMBOLS_H
#define RAYSENSE_AGENT_RAYLET_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raysense/raylet.h"

struct rs_lease_syms {
	unsigned int found;                 /* bitmask of enum rs_lease_probe */
	uint64_t offset[RS_LP_COUNT];       /* file offset, for uprobe attach */
	char name[RS_LP_COUNT][96];         /* head of the matched mangled name */
};

/* Short readable name of a probe ("HandleRequest", "Grant", ...). */
const char *rs_lease_probe_name(enum rs_lease_probe p);
/* Name of the BPF program that serves a probe. */
const char *rs_lease_probe_prog(enum rs_lease_probe p);
/* True if the probe is a uretprobe (fires when the function returns). */
bool rs_lease_probe_at_return(enum rs_lease_probe p);

/* Resolve every probe in the ELF file at path. Returns 0 (check ->found) or
 * -errno (-ENOEXEC: not an ELF file or no symbol table). */
int rs_lease_syms_resolve(const char *path, struct rs_lease_syms *out);

/* Names of the probes in `mask`, comma separated, into buf. */
void rs_lease_probe_list(unsigned int mask, char *buf, size_t len);

#endif
