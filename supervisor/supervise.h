/* supervise.h -- start the four workers, watch readiness and health, restart them by policy,
 * stop them together. */
#ifndef SB_SUPERVISE_H
#define SB_SUPERVISE_H

#include "config.h"

/* Exit statuses of the whole bridge beyond those in log.h. */
#define EXIT_GAVE_UP 3  /* restart intensity exceeded: let systemd or Docker restart us */
#define EXIT_LOCKED 75  /* another bridge holds the state or runtime directory (EX_TEMPFAIL) */

#define HEALTH_PERIOD_MS 1000 /* one survey per period */
#define HEALTH_SURVEY_MS 900  /* answers later than this after the survey do not count */
#define HEALTH_MISSES 3       /* a ready worker missing this many replies in a row is killed */
#define HEALTH_REOPEN_FAIL_ROUNDS 30 /* a health socket that cannot be reopened stops the bridge */
#define READY_TIMEOUT_MS 30000 /* a worker not ready this long after its start is killed */
#define KILL_GRACE_MS 2000    /* SIGTERM to SIGKILL for a worker killed as unhealthy */
#define CONFIG_RETRY_MS 60000 /* a worker that refused the configuration tries it again */
#define STOP_GRACE_MS 5000    /* SIGTERM to SIGKILL when the bridge stops */
#define MQTTD_LAST_MS 3000    /* the longest mqttd waits for the others when the bridge stops */

#define STATUS_SOCKET "status.sock" /* in the runtime directory, mode 0600 */

/* Run the workers until SIGTERM/SIGINT or a give-up. cfg is the loaded configuration; args
 * are the flags to pass on to every worker (argv without the program name), also used to
 * re-read the configuration on SIGHUP. Returns the process exit status. */
int supervise(const struct config *cfg, int nargs, char **args);

#endif
