/* orphans.h -- find and kill workers that outlived a supervisor killed with SIGKILL. */
#ifndef SB_ORPHANS_H
#define SB_ORPHANS_H

#include <stddef.h>
#include <sys/types.h>

struct orphan {
	char name[16]; /* worker name without the sb- prefix: "mqttd" */
	pid_t pid;
};

/* Parse the pid file's "name pid" lines; malformed lines are skipped. Pure. Returns the
 * number of entries stored in out (at most max). */
size_t orphans_parse(const char *text, struct orphan *out, size_t max);

/* Replace <runtime_dir>/workers with these workers (entries with pid <= 1 are left out).
 * Returns 0 or a negative errno. */
int orphans_record(const char *runtime_dir, const struct orphan *workers, size_t n);

/* Stop every recorded worker that still runs under its sb-<name> with this runtime_dir:
 * SIGTERM and SIGCONT, then SIGKILL for those not gone within 2 s; wait for them and remove
 * the file. Call with the runtime directory locked and before starting workers. Returns how
 * many were found. */
int orphans_reap(const char *runtime_dir);

#endif
