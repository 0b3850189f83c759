/* http_deadline.h -- total per-request deadlines for common/http_server.
 *
 * libmicrohttpd only has an idle timeout, which every received byte resets,
 * so a client that sends one header byte per second (slowloris) or trickles a
 * chunked body holds its connection forever. This module keeps one entry per
 * open connection with an absolute expiry; a sweeper thread shuts down the
 * socket of every connection past it (libmicrohttpd then sees EOF and closes
 * the connection). The server restarts an entry's clock when a request
 * completes, so a keep-alive connection gets a fresh deadline for its next
 * request: each request (wait + headers + body + answer) must finish within
 * its deadline.
 *
 * fd safety: the server removes an entry (under the watch's lock) in its
 * connection-closed callback, which libmicrohttpd calls before it closes the
 * socket; the sweeper shuts a socket down only under the same lock, so it
 * never touches a descriptor that was closed and reused. */
#ifndef RAYSENSE_HTTP_DEADLINE_H
#define RAYSENSE_HTTP_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>

struct rs_deadline_watch;
struct rs_deadline_entry;

/* Where a connection's current request is: the expire hook answers 408 to
 * a request whose body is late, and just closes the others. */
enum rs_deadline_phase {
	RS_DEADLINE_HEADERS,        /* waiting for (the rest of) the headers */
	RS_DEADLINE_BODY,           /* headers done, reading the body */
	RS_DEADLINE_ANSWER,         /* the handler runs or the answer is sent */
};

/* What expiry does to a connection; the default (expire = NULL) is
 * shutdown(fd, SHUT_RDWR). Called with the watch's lock held, once per
 * expiry, from the sweeper or from rs_deadline_enter. */
typedef void (*rs_deadline_expire_fn)(int fd, enum rs_deadline_phase phase, void *arg);

/* period_ms > 0 starts a sweeper thread that sweeps every period_ms;
 * 0 starts none (the caller sweeps, as the unit tests do). Returns 0 or
 * -errno. */
int rs_deadline_watch_create(unsigned period_ms, rs_deadline_expire_fn expire, void *arg,
			     struct rs_deadline_watch **out);
/* Stops the sweeper; every entry must have been removed. */
void rs_deadline_watch_destroy(struct rs_deadline_watch *w);

/* Track connection `fd` that must finish its request within deadline_s of
 * `now` (rs_now_mono() seconds). NULL when out of memory (the connection then
 * has only the idle timeout). */
struct rs_deadline_entry *rs_deadline_add(struct rs_deadline_watch *w, int fd,
					  double deadline_s, double now);
/* A request completed: the next one gets a full deadline from `now`, in
 * RS_DEADLINE_HEADERS. */
void rs_deadline_restart(struct rs_deadline_watch *w, struct rs_deadline_entry *e,
			 double now);
/* The request moves to (or stays in) `phase`. Returns false when it is past
 * its deadline: the entry is then expired (at once, if the sweeper has not
 * done it yet) and the caller must drop the request. An untracked (NULL)
 * entry never expires. */
bool rs_deadline_enter(struct rs_deadline_watch *w, struct rs_deadline_entry *e,
		       enum rs_deadline_phase phase, double now);
/* Forget (and free) an entry; NULL is a no-op. */
void rs_deadline_remove(struct rs_deadline_watch *w, struct rs_deadline_entry *e);
/* Expire every entry past its deadline that was not expired yet (each one
 * once); returns how many. */
size_t rs_deadline_sweep(struct rs_deadline_watch *w, double now);

#endif
