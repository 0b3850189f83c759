/* startup_report.h -- what one agent snapshot says about how its Ray nodes
 * started: each startup timeline ($.timelines[], the agent's rs_timeline:
 * raylet_pid and phases_unix_seconds) whose raylet the snapshot also lists
 * in $.workers[] with its Ray node id gives one sample, from the timeline's
 * start (cgroup_created, else first_exec) to gcs_connected (the raylet's GCS
 * connection: Ray registers the node then).  A timeline without both, with
 * a start after the end, longer than STARTUP_REPORT_MAX_S, or of a raylet
 * with no Ray node id gives none; a second timeline of the same Ray node is
 * ignored (one sample per node); past STARTUP_REPORT_LOOKUPS complete
 * timelines, the rest give none.  Pure: parsing and arithmetic only. */
#ifndef RAYSENSE_CONTROLLER_STARTUP_REPORT_H
#define RAYSENSE_CONTROLLER_STARTUP_REPORT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define STARTUP_REPORT_MAX 32		/* Ray nodes per snapshot kept (one in practice) */
#define STARTUP_REPORT_TIMELINES 4096	/* more timelines in a snapshot: an error */
/* Complete timelines matched against $.workers[] per snapshot, at most (a
 * node runs one raylet or a few; this bounds the work of a hostile one). */
#define STARTUP_REPORT_LOOKUPS 256
#define STARTUP_REPORT_MAX_S 86400.0	/* a longer startup is no sample */
#define STARTUP_REPORT_MAX_UNIX 1e11	/* phase times above this are an error */

struct node_startup {
	char ray_node_id[64];
	double seconds;			/* start -> gcs_connected */
};

struct startup_report {
	struct node_startup v[STARTUP_REPORT_MAX];
	size_t n;
};

/* From a push document (schema_version 1 or 2) (no $.timelines: an empty
 * report).  Malformed timelines are an error: -EINVAL, err names the path
 * ($.timelines[i] not an object, raylet_pid not a whole number in
 * [0, 2^32), phases_unix_seconds not an object, a phase neither null nor a
 * number in [0, STARTUP_REPORT_MAX_UNIX]). */
int startup_report_parse(const cJSON *root, struct startup_report *out, char *err, size_t size);
const struct node_startup *startup_report_find(const struct startup_report *r,
					       const char *ray_node_id);

#endif
