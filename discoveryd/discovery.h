/* discovery.h -- discoveryd's loop: SSDP search and NOTIFY, manual speakers, table on the bus. */
#ifndef SB_DISCOVERY_H
#define SB_DISCOVERY_H

#include "config.h"

/* Run discoveryd until SIGTERM or SIGINT. Returns the process exit status: 0 after a clean
 * stop, EXIT_TEMPORARY when the sockets could not be set up. */
int discovery_run(const struct config *cfg);

#endif
