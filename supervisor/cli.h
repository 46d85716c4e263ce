/* cli.h -- the user verbs that talk to a running bridge: status and healthcheck. */
#ifndef SB_CLI_H
#define SB_CLI_H

#include "config.h"

/* Print the status table (or the raw JSON). Returns the process exit status: 0, or 1 when the
 * bridge does not answer. */
int cli_status(const struct config *cfg, int json);

/* Docker's HEALTHCHECK: 0 healthy, 1 not; one line either way. */
int cli_healthcheck(const struct config *cfg);

#endif
