/* provider_local.c -- the local provider: each node is a
 * `ray start --address=... --block` process in its own session (process
 * group), named and labelled with its provider id.  Node state lives in
 * <state_dir>/local-provider.json (written atomically on every change) so a
 * restarted controller re-adopts running nodes instead of losing them.
 * Before Ray 2.50 the nodes are started one at a time (serial_start). */
#include "common/util.h"
#include "controller/provider/provider.h"

#include "common/cli.h"
#include "common/json_util.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define seterr(err, ...) rs_errf(err, PROVIDER_ERR_LEN, __VA_ARGS__)

#define STATE_FILE "local-provider.json"
#define STATE_MAX_BYTES (4u << 20)
#define MAX_ARGS 64
/* What `ray start` prints once its node registered with the GCS (2.41.0 to
 * 2.60.0), i.e. once its raylet has bound its sockets. */
#define RAY_STARTED_LINE "Ray runtime started."
#define START_LOG_MAX_BYTES (1u << 20)
/* A node that neither printed RAY_STARTED_LINE nor was listed ALIVE by then
 * no longer holds the next one back (`ray start` itself gives up after 30 s
 * to 60 s, depending on the release). */
#define SERIAL_START_MAX_WAIT_S 90.0

/* The `ray start` command of one node, built at launch: a queued node starts
 * later from it, when the worker group may no longer be at hand. */
struct start_cmd {
	char id[PROVIDER_ID_MAX];
	char addr[512], cpus[64], gpus[64], res[2048], name[160], labels[512], tmpdir[4200],
	     mem[64], osm[64];
	char *argv[MAX_ARGS];
};

struct local {
	struct provider_local_config cfg;
	char state_path[4096];
	char log_dir[4096];
	struct provider_node *nodes;
	size_t count;
	unsigned long next_seq;
	/* `ray start --labels` takes a JSON object up to Ray 2.44 and
	 * "k=v,k2=v2" from 2.45 (ray#51706; each refuses the other's syntax,
	 * checked on 2.41.0, 2.44.1, 2.45.0, 2.47.1 and 2.60.0). */
	bool labels_json;
	/* Before Ray 2.50 a worker ignores --temp-dir and makes its sockets in
	 * the head's session dir, each `ray start` naming them after the first
	 * sockets/raylet.N and plasma_store.N that do not exist yet
	 * (ray/_private/node.py _make_inc_temp: checked, not created).  Two
	 * workers started at once can take the same name, and one raylet then
	 * aborts ("bind: Address already in use"; seen on 2.41.0, 2.47.1 and
	 * 2.49.2, docs/ray-versions.md).  So on those releases a node is started
	 * only once the one before it has registered (its sockets exist); the
	 * launches in between wait in `queue` with pid 0.  2.50 and later keep
	 * each worker in its own --temp-dir and start at once. */
	bool serial_start;
	struct start_cmd **queue;	/* FIFO of launches not started yet */
	size_t queued;
	char starting[PROVIDER_ID_MAX];	/* the node serial_start waits for, or "" */
	/* Launches the last refresh found ended on their own before Ray listed
	 * them ALIVE (failed_launches). */
	struct provider_node *failed;
	size_t failed_count, failed_cap;
};

/* ---------------------------------------------------------------- state file */

char *provider_local_state_encode(const struct provider_node *nodes, size_t n,
				  unsigned long next_seq)
{
	cJSON *doc = cJSON_CreateObject(), *arr;
	char *out;

	if (!doc)
		return NULL;
	cJSON_AddNumberToObject(doc, "version", 1);
	cJSON_AddNumberToObject(doc, "next_seq", (double)next_seq);
	arr = cJSON_AddArrayToObject(doc, "nodes");
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *o;

		if (nodes[i].pid <= 0)
			continue;	/* queued, not started: no process to re-adopt */
		o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "id", nodes[i].id);
		cJSON_AddStringToObject(o, "type", nodes[i].type);
		cJSON_AddNumberToObject(o, "pid", nodes[i].pid);
		cJSON_AddNumberToObject(o, "launched_at", nodes[i].launched_at);
		cJSON_AddNumberToObject(o, "stop_requested_at", nodes[i].stop_requested_at);
		cJSON_AddItemToArray(arr, o);
	}
	out = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return out;
}

static int decode_node(const cJSON *o, size_t i, struct provider_node *nd, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const char *id, *type;
	double pid, launched, stop = 0;
	char path[48];

	snprintf(path, sizeof(path), "$.nodes[%zu]", i);
	if (rs_json_get_string(o, path, "id", true, &id, &jerr) ||
	    rs_json_get_string(o, path, "type", true, &type, &jerr) ||
	    rs_json_get_number(o, path, "pid", true, &pid, &jerr) ||
	    rs_json_get_number(o, path, "launched_at", true, &launched, &jerr) ||
	    rs_json_get_number(o, path, "stop_requested_at", false, &stop, &jerr) < -ENOENT) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	if (!id[0] || strlen(id) >= sizeof(nd->id) || !type[0] || strlen(type) >= sizeof(nd->type)) {
		seterr(err, "%s: id or type empty or too long", path);
		return -EINVAL;
	}
	if (pid != floor(pid) || pid < 2 || pid > 4194304) {
		seterr(err, "%s.pid: not a valid process id", path);
		return -EINVAL;
	}
	snprintf(nd->id, sizeof(nd->id), "%s", id);
	snprintf(nd->type, sizeof(nd->type), "%s", type);
	nd->pid = (int)pid;
	nd->launched_at = launched;
	nd->started_at = launched;	/* a process runs from its launch */
	nd->stop_requested_at = stop;
	return 0;
}

int provider_local_state_decode(const char *buf, size_t len, struct provider_node **nodes,
				size_t *n, unsigned long *next_seq, char *err)
{
	struct rs_json_error jerr = { { 0 } };
	const cJSON *arr, *o;
	double seq, version;
	cJSON *root;
	size_t i = 0;
	int rc = 0;

	*nodes = NULL;
	*n = 0;
	if (rs_json_parse(buf, len, &root, &jerr)) {
		seterr(err, "%s", jerr.msg);
		return -EINVAL;
	}
	if (rs_json_get_number(root, "$", "version", true, &version, &jerr) ||
	    rs_json_get_number(root, "$", "next_seq", true, &seq, &jerr) ||
	    rs_json_get_array(root, "$", "nodes", true, &arr, &jerr)) {
		seterr(err, "%s", jerr.msg);
		cJSON_Delete(root);
		return -EINVAL;
	}
	if (version != 1 || seq < 0 || seq > 1e15 || seq != floor(seq)) {
		seterr(err, "$: unsupported version %g or bad next_seq", version);
		cJSON_Delete(root);
		return -EINVAL;
	}
	*nodes = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(**nodes));
	if (!*nodes) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(o, arr) {
		rc = decode_node(o, i, &(*nodes)[i], err);
		if (rc)
			break;
		i++;
	}
	cJSON_Delete(root);
	if (rc) {
		free(*nodes);
		*nodes = NULL;
		return rc;
	}
	*n = i;
	*next_seq = (unsigned long)seq;
	return 0;
}

/* Write to a temp file, fsync, rename: a crash leaves the old or the new
 * state, never a torn one. */
static int save_state(struct local *l)
{
	char tmp[4200];
	char *doc = provider_local_state_encode(l->nodes, l->count, l->next_seq);
	size_t len;
	int fd, rc = 0;

	if (!doc)
		return -ENOMEM;
	len = strlen(doc);
	snprintf(tmp, sizeof(tmp), "%s.tmp", l->state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
	} else {
		if (write(fd, doc, len) != (ssize_t)len || fsync(fd))
			rc = errno ? -errno : -EIO;
		close(fd);
		if (!rc && rename(tmp, l->state_path))
			rc = -errno;
	}
	free(doc);
	if (rc)
		rs_error("local provider: cannot write %s: %s", l->state_path, strerror(-rc));
	return rc;
}

/* ---------------------------------------------------------------- processes */

/* The node's process group still has members. */
static bool group_alive(int pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

/* The pid still runs *our* `ray start` for this id (guards against pid reuse
 * after a restart: the command line carries --node-name=<id>). */
static bool is_our_process(int pid, const char *id)
{
	char path[64], buf[8192], want[PROVIDER_ID_MAX + 16];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	snprintf(want, sizeof(want), "--node-name=%s ", id);
	return strstr(buf, want) != NULL;
}

static void resources_arg(const struct worker_group *g, char *out, size_t size)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	for (size_t i = 0; o && i < g->resources.count; i++) {
		const struct planner_resource *r = &g->resources.items[i];

		if (strcmp(r->name, "CPU") && strcmp(r->name, "GPU") && strcmp(r->name, "memory") &&
		    strcmp(r->name, "object_store_memory"))
			cJSON_AddNumberToObject(o, r->name, r->value);
	}
	s = o ? cJSON_PrintUnformatted(o) : NULL;
	snprintf(out, size, "--resources=%s", s ? s : "{}");
	free(s);
	cJSON_Delete(o);
}

/* Runs between fork and exec in a multi-threaded process: only
 * async-signal-safe calls (everything else is prepared before the fork). */
static void child_exec(const char *logpath, char *const *argv)
{
	static const char msg[] = "raysense-controller: exec of ray failed\n";
	int fd;

	setsid();
	fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	execvp(argv[0], argv);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

static void build_cmd(const struct local *l, const struct worker_group *g, const char *id,
		      struct start_cmd *c)
{
	double memory = resmap_get(&g->resources, "memory", 0);
	double store = resmap_get(&g->resources, "object_store_memory", 0);
	int argc = 0;

	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->addr, sizeof(c->addr), "--address=%s", l->cfg.address);
	snprintf(c->cpus, sizeof(c->cpus), "--num-cpus=%ld",
		 lround(resmap_get(&g->resources, "CPU", 0)));
	snprintf(c->gpus, sizeof(c->gpus), "--num-gpus=%ld",
		 lround(resmap_get(&g->resources, "GPU", 0)));
	resources_arg(g, c->res, sizeof(c->res));
	snprintf(c->name, sizeof(c->name), "--node-name=%s", id);
	if (l->labels_json)
		snprintf(c->labels, sizeof(c->labels),
			 "--labels={\"raysense.io/node\": \"%s\", \"raysense.io/group\": \"%s\"}",
			 id, g->name);
	else
		snprintf(c->labels, sizeof(c->labels),
			 "--labels=raysense.io/node=%s,raysense.io/group=%s", id, g->name);
	c->argv[argc++] = (char *)l->cfg.ray_bin;
	c->argv[argc++] = "start";
	c->argv[argc++] = c->addr;
	c->argv[argc++] = c->cpus;
	c->argv[argc++] = c->gpus;
	c->argv[argc++] = c->res;
	/* Ray refuses these two in --resources ("use --memory"): own flags. */
	if (memory > 0) {
		snprintf(c->mem, sizeof(c->mem), "--memory=%.0f", memory);
		c->argv[argc++] = c->mem;
	}
	if (store > 0) {
		snprintf(c->osm, sizeof(c->osm), "--object-store-memory=%.0f", store);
		c->argv[argc++] = c->osm;
	}
	c->argv[argc++] = c->name;
	c->argv[argc++] = c->labels;
	snprintf(c->tmpdir, sizeof(c->tmpdir), "--temp-dir=%s/%s", l->cfg.node_temp_root, id);
	c->argv[argc++] = c->tmpdir;
	c->argv[argc++] = "--block";
	c->argv[argc++] = "--disable-usage-stats";
	for (size_t i = 0; l->cfg.extra_args && l->cfg.extra_args[i] && argc < MAX_ARGS - 1; i++)
		c->argv[argc++] = (char *)l->cfg.extra_args[i];
	c->argv[argc] = NULL;
}

/* Fork and exec c for node n (already in l->nodes). */
static int spawn(struct local *l, const struct start_cmd *c, struct provider_node *n, char *err)
{
	char logpath[4300];
	pid_t pid;

	snprintf(logpath, sizeof(logpath), "%s/%s.log", l->log_dir, c->id);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		seterr(err, "fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0)
		child_exec(logpath, c->argv);
	n->pid = pid;
	n->started_at = rs_now_unix();
	if (l->serial_start)
		snprintf(l->starting, sizeof(l->starting), "%s", c->id);
	rs_info("local provider: started %s (pid %d): %s %s %s %s %s", c->id, pid, c->argv[2],
		c->argv[3], c->argv[4], c->argv[5], c->argv[7]);
	return 0;
}

static struct provider_node *find(struct local *l, const char *id)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->nodes[i].id, id))
			return &l->nodes[i];
	return NULL;
}

/* Has `ray start` of node n printed RAY_STARTED_LINE to its log? */
static bool printed_started(const struct local *l, const struct provider_node *n)
{
	char path[4300], *buf = NULL;
	size_t len;
	bool found;

	snprintf(path, sizeof(path), "%s/%s.log", l->log_dir, n->id);
	if (rs_read_file(path, START_LOG_MAX_BYTES, &buf, &len))
		return false;
	found = strstr(buf, RAY_STARTED_LINE) != NULL;
	free(buf);
	return found;
}

/* serial_start: is a started node still short of registering?  Clears
 * l->starting once it registered (printed RAY_STARTED_LINE or was listed
 * ALIVE), is being stopped, waited SERIAL_START_MAX_WAIT_S or ended (refresh
 * dropped it from the list).  Not group_alive: right after the fork the
 * child may not have called setsid() yet, and its group would look gone. */
static bool node_starting(struct local *l, double now)
{
	struct provider_node *n;

	if (!l->starting[0])
		return false;
	n = find(l, l->starting);
	if (n && n->alive_at == 0 && n->stop_requested_at == 0 && !printed_started(l, n)) {
		if (now - n->started_at < SERIAL_START_MAX_WAIT_S)
			return true;
		rs_warn("local provider: %s not registered after %.0f s; starting the next node",
			n->id, now - n->started_at);
	}
	l->starting[0] = '\0';
	return false;
}

static void drop_queued(struct local *l, size_t i)
{
	free(l->queue[i]);
	memmove(&l->queue[i], &l->queue[i + 1], (l->queued - i - 1) * sizeof(l->queue[0]));
	l->queued--;
}

/* Start the first queued node when no node is still starting.  A node
 * whose stop was requested before it started is dropped unstarted. */
static bool start_queued(struct local *l, double now)
{
	bool changed = false;
	char err[PROVIDER_ERR_LEN];

	while (l->queued) {
		struct provider_node *n = find(l, l->queue[0]->id);

		if (n && n->stop_requested_at == 0) {
			if (node_starting(l, now))
				break;
			if (spawn(l, l->queue[0], n, err)) {
				rs_error("local provider: cannot start %s: %s", n->id, err);
				break;	/* stays queued: tried again next refresh */
			}
		}
		drop_queued(l, 0);
		changed = true;
	}
	return changed;
}

static int local_launch(struct provider *p, const struct worker_group *g, char *id_out, char *err)
{
	struct local *l = p->impl;
	struct start_cmd *c = calloc(1, sizeof(*c));
	struct provider_node *grown, *n;
	char id[PROVIDER_ID_MAX];
	int rc;

	if (!c)
		return -ENOMEM;
	snprintf(id, sizeof(id), "rs-%s-%lu", g->name, l->next_seq);
	build_cmd(l, g, id, c);
	grown = realloc(l->nodes, (l->count + 1) * sizeof(*grown));
	if (!grown) {
		free(c);
		return -ENOMEM;
	}
	l->nodes = grown;
	n = &l->nodes[l->count];
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(n->type, sizeof(n->type), "%s", g->name);
	n->launched_at = rs_now_unix();
	if (l->serial_start && (l->queued || node_starting(l, n->launched_at))) {
		struct start_cmd **q = realloc(l->queue, (l->queued + 1) * sizeof(*q));

		if (!q) {
			free(c);
			return -ENOMEM;
		}
		l->queue = q;
		l->queue[l->queued++] = c;
		rs_info("local provider: %s waits until %s registered (before Ray 2.50, "
			"nodes on one host start one at a time)", id,
			l->starting[0] ? l->starting : "the node queued before it");
	} else {
		rc = spawn(l, c, n, err);
		free(c);
		if (rc)
			return rc;
	}
	l->count++;
	l->next_seq++;
	snprintf(id_out, PROVIDER_ID_MAX, "%s", id);
	return save_state(l);
}

static int local_terminate(struct provider *p, const char *id, char *err)
{
	struct local *l = p->impl;
	struct provider_node *n = find(l, id);

	if (!n) {
		seterr(err, "no node %s", id);
		return -ENOENT;
	}
	if (n->stop_requested_at > 0)
		return 0;
	if (n->pid <= 0) {	/* queued: the next refresh drops it unstarted */
		n->stop_requested_at = rs_now_unix();
		rs_info("local provider: %s cancelled before it started", id);
		return 0;
	}
	if (kill(-n->pid, SIGTERM) && errno != ESRCH) {
		int e = errno;

		seterr(err, "kill(-%d, SIGTERM): %s", n->pid, strerror(e));
		return -e;
	}
	n->stop_requested_at = rs_now_unix();
	rs_info("local provider: stopping %s (process group %d, SIGTERM)", id, n->pid);
	return save_state(l);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Remove the node's Ray temp dir once its processes are gone. */
static void remove_node_tmp(struct local *l, const char *id)
{
	char dir[4200];

	snprintf(dir, sizeof(dir), "%s/%s", l->cfg.node_temp_root, id);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void reap_children(void)
{
	int status;

	while (waitpid(-1, &status, WNOHANG) > 0)
		;
}

/* Keep n for failed_launches; without memory the failure goes unreported
 * (never invented).  The array grows only when launches fail. */
static void note_failed(struct local *l, const struct provider_node *n)
{
	if (l->failed_count == l->failed_cap) {
		size_t cap = l->failed_cap ? l->failed_cap * 2 : 4;
		struct provider_node *f = realloc(l->failed, cap * sizeof(*f));

		if (!f)
			return;
		l->failed = f;
		l->failed_cap = cap;
	}
	l->failed[l->failed_count++] = *n;
}

static int local_refresh(struct provider *p, double now)
{
	struct local *l = p->impl;
	size_t w = 0;
	bool changed = false;

	reap_children();
	l->failed_count = 0;
	for (size_t i = 0; i < l->count; i++) {
		struct provider_node *n = &l->nodes[i];

		if (n->pid <= 0) {	/* queued */
			if (n->stop_requested_at == 0)
				l->nodes[w++] = *n;
			continue;
		}
		if (!group_alive(n->pid)) {
			if (n->stop_requested_at > 0)
				rs_info("local provider: %s stopped", n->id);
			else
				rs_warn("local provider: %s (pid %d) exited on its own%s; its log is "
					"%s/%s.log", n->id, n->pid,
					n->alive_at > 0 ? "" : " before Ray listed it ALIVE",
					l->log_dir, n->id);
			if (n->stop_requested_at == 0 && n->alive_at == 0)
				note_failed(l, n);
			remove_node_tmp(l, n->id);
			changed = true;
			continue;
		}
		if (n->stop_requested_at > 0 && now - n->stop_requested_at > l->cfg.stop_grace_s) {
			rs_warn("local provider: %s still running %.0f s after SIGTERM: SIGKILL",
				n->id, now - n->stop_requested_at);
			kill(-n->pid, SIGKILL);
		}
		l->nodes[w++] = *n;
	}
	l->count = w;
	/* After the loop: a starting node that ended is out of the list. */
	if (start_queued(l, now))
		changed = true;
	return changed ? save_state(l) : 0;
}

static size_t local_list(struct provider *p, const struct provider_node **out)
{
	struct local *l = p->impl;

	*out = l->nodes;
	return l->count;
}

static void local_node_alive(struct provider *p, const char *id, double unix_s)
{
	struct local *l = p->impl;

	for (size_t i = 0; i < l->count; i++)
		if (l->nodes[i].alive_at == 0 && !strcmp(l->nodes[i].id, id))
			l->nodes[i].alive_at = unix_s;
}

static size_t local_failed_launches(struct provider *p, const struct provider_node **out)
{
	struct local *l = p->impl;

	*out = l->failed;
	return l->failed_count;
}

static void local_destroy(struct provider *p)
{
	struct local *l = p->impl;

	if (!l)
		return;
	while (l->queued)
		drop_queued(l, l->queued - 1);
	free(l->queue);
	free(l->failed);
	free(l->nodes);
	free(l);
	p->impl = NULL;
}

/* "MAJOR.MINOR[.PATCH...]" older than 2.minor?  An unreadable version is
 * taken as a current one. */
static bool version_before_2(const char *version, unsigned int want_minor)
{
	unsigned int major, minor;

	if (!version || sscanf(version, "%u.%u", &major, &minor) != 2)
		return false;
	return major < 2 || (major == 2 && minor < want_minor);
}

bool provider_local_labels_json(const char *version)
{
	return version_before_2(version, 45);
}

bool provider_local_serial_start(const char *version)
{
	return version_before_2(version, 50);
}

static void local_ray_version(struct provider *p, const char *version)
{
	struct local *l = p->impl;

	l->labels_json = provider_local_labels_json(version);
	l->serial_start = provider_local_serial_start(version);
	if (l->labels_json)
		rs_info("local provider: Ray %s takes --labels as JSON (before 2.45)", version);
	if (l->serial_start)
		rs_info("local provider: Ray %s shares the head's session dir (before 2.50): "
			"nodes start one at a time", version);
}

static const struct provider_ops local_ops = {
	.name = "local",
	.launch = local_launch,
	.terminate = local_terminate,
	.refresh = local_refresh,
	.list = local_list,
	.destroy = local_destroy,
	.ray_version = local_ray_version,
	.node_alive = local_node_alive,
	.failed_launches = local_failed_launches,
};

/* Keep the nodes of the previous run whose process still runs. */
static int adopt(struct local *l, char *err)
{
	struct provider_node *nodes;
	unsigned long seq;
	char *buf = NULL, perr[PROVIDER_ERR_LEN];
	size_t len, n;
	int rc = rs_read_file(l->state_path, STATE_MAX_BYTES, &buf, &len);

	if (rc == -ENOENT)
		return 0;
	if (rc) {
		seterr(err, "cannot read %s: %s", l->state_path, strerror(-rc));
		return rc;
	}
	rc = provider_local_state_decode(buf, len, &nodes, &n, &seq, perr);
	free(buf);
	if (rc) {
		/* Refuse to start: overwriting it would orphan running nodes. */
		seterr(err, "%s is corrupt (%s); fix or remove it", l->state_path, perr);
		return rc;
	}
	l->nodes = nodes;
	l->next_seq = seq;
	for (size_t i = 0; i < n; i++) {
		if (is_our_process(nodes[i].pid, nodes[i].id)) {
			rs_info("local provider: re-adopted %s (pid %d)", nodes[i].id, nodes[i].pid);
			/* Not this run's launch: its exit is never a failed launch. */
			nodes[i].alive_at = nodes[i].launched_at > 0 ? nodes[i].launched_at : 1;
			nodes[l->count++] = nodes[i];
		} else {
			rs_warn("local provider: %s (pid %d) from the state file is gone",
				nodes[i].id, nodes[i].pid);
		}
	}
	return save_state(l);
}

int provider_local_create(const struct provider_local_config *cfg, struct provider *out,
			  char *err)
{
	struct local *l;
	int rc;

	if (!cfg->address || !cfg->state_dir) {
		seterr(err, "the local provider needs the Ray address and a state dir");
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = *cfg;
	if (!l->cfg.ray_bin)
		l->cfg.ray_bin = "ray";
	if (l->cfg.stop_grace_s <= 0)
		l->cfg.stop_grace_s = 15;
	if (!l->cfg.node_temp_root)
		l->cfg.node_temp_root = "/tmp/raysense-nodes";
	if (mkdir(l->cfg.node_temp_root, 0755) && errno != EEXIST) {
		seterr(err, "cannot create %s: %s", l->cfg.node_temp_root, strerror(errno));
		free(l);
		return -errno;
	}
	snprintf(l->state_path, sizeof(l->state_path), "%s/" STATE_FILE, cfg->state_dir);
	snprintf(l->log_dir, sizeof(l->log_dir), "%s/logs", cfg->state_dir);
	if ((mkdir(cfg->state_dir, 0755) && errno != EEXIST) ||
	    (mkdir(l->log_dir, 0755) && errno != EEXIST)) {
		seterr(err, "cannot create %s: %s", l->log_dir, strerror(errno));
		free(l);
		return -errno;
	}
	rc = adopt(l, err);
	if (rc) {
		free(l->nodes);
		free(l);
		return rc;
	}
	out->ops = &local_ops;
	out->impl = l;
	return 0;
}
