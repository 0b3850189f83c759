/* provider_local.c -- the local provider: each node is a
 * `ray start --address=... --block` process in its own session (process
 * group), named and labelled with its provider id.  Node state lives in
 * <state_dir>/local-provider.json (written atomically on every change) so a
 * restarted controller re-adopts running nodes instead of losing them. */
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
		cJSON *o = cJSON_CreateObject();

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
static void child_exec(const char *logpath, char **argv)
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

static int local_launch(struct provider *p, const struct worker_group *g, char *id_out, char *err)
{
	struct local *l = p->impl;
	char id[PROVIDER_ID_MAX], addr[512], cpus[64], gpus[64], res[2048], name[160],
	     labels[512], tmpdir[4200], logpath[4300], mem[64], osm[64];
	double memory = resmap_get(&g->resources, "memory", 0);
	double store = resmap_get(&g->resources, "object_store_memory", 0);
	char *argv[MAX_ARGS];
	struct provider_node *grown;
	int argc = 0;
	pid_t pid;

	snprintf(id, sizeof(id), "rs-%s-%lu", g->name, l->next_seq);
	snprintf(addr, sizeof(addr), "--address=%s", l->cfg.address);
	snprintf(cpus, sizeof(cpus), "--num-cpus=%ld", lround(resmap_get(&g->resources, "CPU", 0)));
	snprintf(gpus, sizeof(gpus), "--num-gpus=%ld", lround(resmap_get(&g->resources, "GPU", 0)));
	resources_arg(g, res, sizeof(res));
	snprintf(name, sizeof(name), "--node-name=%s", id);
	if (l->labels_json)
		snprintf(labels, sizeof(labels),
			 "--labels={\"raysense.io/node\": \"%s\", \"raysense.io/group\": \"%s\"}",
			 id, g->name);
	else
		snprintf(labels, sizeof(labels), "--labels=raysense.io/node=%s,raysense.io/group=%s",
			 id, g->name);
	argv[argc++] = (char *)l->cfg.ray_bin;
	argv[argc++] = "start";
	argv[argc++] = addr;
	argv[argc++] = cpus;
	argv[argc++] = gpus;
	argv[argc++] = res;
	/* Ray refuses these two in --resources ("use --memory"): own flags. */
	if (memory > 0) {
		snprintf(mem, sizeof(mem), "--memory=%.0f", memory);
		argv[argc++] = mem;
	}
	if (store > 0) {
		snprintf(osm, sizeof(osm), "--object-store-memory=%.0f", store);
		argv[argc++] = osm;
	}
	argv[argc++] = name;
	argv[argc++] = labels;
	snprintf(tmpdir, sizeof(tmpdir), "--temp-dir=%s/%s", l->cfg.node_temp_root, id);
	argv[argc++] = tmpdir;
	argv[argc++] = "--block";
	argv[argc++] = "--disable-usage-stats";
	for (size_t i = 0; l->cfg.extra_args && l->cfg.extra_args[i] && argc < MAX_ARGS - 1; i++)
		argv[argc++] = (char *)l->cfg.extra_args[i];
	argv[argc] = NULL;

	grown = realloc(l->nodes, (l->count + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	l->nodes = grown;
	snprintf(logpath, sizeof(logpath), "%s/%s.log", l->log_dir, id);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		seterr(err, "fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0)
		child_exec(logpath, argv);
	memset(&l->nodes[l->count], 0, sizeof(l->nodes[l->count]));
	snprintf(l->nodes[l->count].id, sizeof(l->nodes[l->count].id), "%s", id);
	snprintf(l->nodes[l->count].type, sizeof(l->nodes[l->count].type), "%s", g->name);
	l->nodes[l->count].pid = pid;
	l->nodes[l->count].launched_at = rs_now_unix();
	l->nodes[l->count].started_at = l->nodes[l->count].launched_at;
	l->count++;
	l->next_seq++;
	snprintf(id_out, PROVIDER_ID_MAX, "%s", id);
	rs_info("local provider: started %s (pid %d): %s %s %s %s %s", id, pid, argv[2], argv[3],
		argv[4], argv[5], argv[7]);
	return save_state(l);
}

static struct provider_node *find(struct local *l, const char *id)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->nodes[i].id, id))
			return &l->nodes[i];
	return NULL;
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
	free(l->failed);
	free(l->nodes);
	free(l);
	p->impl = NULL;
}

/* "MAJOR.MINOR[.PATCH...]" older than 2.45?  An unreadable version keeps
 * the current syntax. */
bool provider_local_labels_json(const char *version)
{
	unsigned int major, minor;

	if (!version || sscanf(version, "%u.%u", &major, &minor) != 2)
		return false;
	return major < 2 || (major == 2 && minor < 45);
}

static void local_ray_version(struct provider *p, const char *version)
{
	struct local *l = p->impl;

	l->labels_json = provider_local_labels_json(version);
	if (l->labels_json)
		rs_info("local provider: Ray %s takes --labels as JSON (before 2.45)", version);
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
