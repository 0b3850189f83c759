/* sim_snapshot.h -- one real agent snapshot made into simulated agent i's:
 * shared by the load bench (agent_load.c) and the table bench
 * (signals_scale.c) so that both send the same documents.
 *
 * The node name and hostname become "sim-NNNNN", seq and taken_unix_ms are
 * set, and every string equal to one of the template's $.workers[k].ray_node_id
 * (the workers, the lease families' node_id labels, the timelines) becomes
 * agent i's id for raylet k, so that N agents report N distinct sets of Ray
 * nodes as N real nodes would. */
#ifndef RAYSENSE_BENCH_SIM_SNAPSHOT_H
#define RAYSENSE_BENCH_SIM_SNAPSHOT_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Agent i's Ray node id for raylet k (56 hex digits, like a Ray node id). */
void sim_ray_id(long i, int k, char *out, size_t size);
/* Agent i's document, gzip'd into *gz (malloc'd).  0 or -errno (-EINVAL: the
 * template has no node object or no workers array). */
int sim_snapshot_gzip(const cJSON *templ, long i, long long seq, char **gz, size_t *gz_len);

#endif
