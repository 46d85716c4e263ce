/* health.h -- a worker's side of supervision: readiness, health replies, the reason it died.
 *
 * The supervisor gives each worker the write end of a pipe as fd SB_READY_FD (s6 style). The
 * worker writes one empty line there when it is really ready, and, if it dies of a fatal error,
 * one line with the reason. Health: the supervisor surveys every worker on a fixed period over
 * ipc://<runtime_dir>/supervisor.health (SURVEYOR); each worker answers (RESPONDENT) from its own
 * loop with its facts as one JSON object, so a worker whose loop is stuck stops answering. */
#ifndef SB_HEALTH_H
#define SB_HEALTH_H

#include <stddef.h>
#include <uv.h>

#include "strbuf.h"

/* Environment variable holding the readiness fd number; not SONOS_BRIDGE_*: those are config
 * keys. */
#define HEALTH_READY_ENV "SB_READY_FD"
#define HEALTH_READY_FD 3
/* The supervisor's surveyor: ipc://<runtime_dir>/<HEALTH_SOCKET>.<HEALTH_SUFFIX> */
#define HEALTH_SOCKET "supervisor"
#define HEALTH_SUFFIX "health"

/* Fills out with the worker's facts: one JSON object, e.g. {"speakers":2}. Runs on the loop. */
typedef void (*health_facts_fn)(void *ctx, struct strbuf *out);

/* Answer the supervisor's health surveys on loop, as worker `name`, with facts(ctx). Stops by
 * itself on SIGTERM/SIGINT; its handles never keep the loop alive. Returns 0 or -1 (logged). */
int health_start(uv_loop_t *loop, const char *rundir, const char *name, health_facts_fn facts,
		 void *ctx);

/* Close the health handles now (optional: SIGTERM/SIGINT does it). */
void health_stop(void);

/* Call when the worker's uv_run has returned: stops the health handles if no signal did (a
 * SIGTERM delivered before health_start reaches only the handles that existed then) and runs
 * the loop until their closes are done, so that uv_loop_close finds nothing open. */
void health_finish(uv_loop_t *loop);

/* Tell the supervisor this worker is ready. Once per process; a no-op without a supervisor. */
void health_ready(void);

/* Log hook for fatal errors (see log_set_fatal_hook): passes the reason to the supervisor. */
void health_fatal_hook(int status, const char *message);

/* Append s as a JSON string, quoted and escaped; when s is not valid UTF-8, each byte above
 * 0x7f becomes U+FFFD. */
void health_json_string(struct strbuf *b, const char *s);

#endif
