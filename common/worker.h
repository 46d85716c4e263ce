/* worker.h -- the start-up every worker process shares: parent-death signal, config, log. */
#ifndef SB_WORKER_H
#define SB_WORKER_H

#include "config.h"

/* Environment variable through which the supervisor passes its pid to its workers. */
#define WORKER_SUPERVISOR_ENV "SB_SUPERVISOR_PID" /* not SONOS_BRIDGE_*: those are config keys */

/* Call first in main. Arranges SIGTERM when the supervisor dies (and exits at once if it is
 * already gone), ignores SIGPIPE, loads the configuration from argv/environ (exits with
 * EXIT_CONFIG and the reason when it is bad), starts logging as `name` and names the process
 * "sb-<name>" for ps. */
void worker_setup(const char *name, int argc, char **argv, struct config *cfg);

#endif
