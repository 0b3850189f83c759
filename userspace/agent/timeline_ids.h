/* timeline_ids.h -- the Ray node id of each startup timeline's raylet,
 * remembered after the raylet exits.
 *
 * Default /metrics series name a startup timeline by its Ray node id (its key,
 * a pod UID or a pid, is a debug label). The id is read from the running
 * raylet's command line; once the raylet has exited it can no longer be read,
 * so the last id seen for the timeline's key is kept here (at most
 * RS_TIMELINE_IDS entries, the oldest replaced first). Thread-safe: the HTTP
 * and push threads collect snapshots concurrently. */
#ifndef RAYSENSE_AGENT_TIMELINE_IDS_H
#define RAYSENSE_AGENT_TIMELINE_IDS_H

#include <stddef.h>
#include <stdint.h>

#define RS_TIMELINE_IDS 1024    /* lc_timelines' max_entries */

/* node_id holds the id read now ("" when unknown): a non-empty one is
 * remembered for key; an empty one is replaced by the remembered id, if any. */
void rs_timeline_id_resolve(uint64_t key, char *node_id, size_t len);

#endif
