/* hist.h -- the log2 latency histogram shared by the BPF programs (which fill
 * it in map values) and userspace (which exports it).
 *
 * Slot i counts values v (in nanoseconds) with 2^i <= v < 2^(i+1); slot 0 also
 * holds v == 0 and v == 1, and the last slot holds everything larger. So the
 * Prometheus upper bound of slot i is le = 2^(i+1) ns (converted to seconds).
 * `count` and `sum_ns` give _count and _sum. */
#ifndef RAYSENSE_HIST_H
#define RAYSENSE_HIST_H

#define RS_HIST_SLOTS 40 /* 2^40 ns ~ 18 minutes */

struct rs_hist {
	unsigned long long slots[RS_HIST_SLOTS];
	unsigned long long count;
	unsigned long long sum_ns;
};

/* Slot index for a value in ns (BPF and userspace). */
static inline unsigned int rs_hist_slot(unsigned long long v)
{
	unsigned int slot = 0;

	/* Unrolled log2 (verifier friendly, as libbpf-tools' log2l). */
	if (v >> 32) { slot += 32; v >>= 32; }
	if (v >> 16) { slot += 16; v >>= 16; }
	if (v >> 8) { slot += 8; v >>= 8; }
	if (v >> 4) { slot += 4; v >>= 4; }
	if (v >> 2) { slot += 2; v >>= 2; }
	if (v >> 1) { slot += 1; }
	return slot >= RS_HIST_SLOTS ? RS_HIST_SLOTS - 1 : slot;
}

#endif
