/* main.c -- sonos-bridge-discoveryd: finds the Sonos speakers and publishes them on the bus. */
#include "config.h"
#include "description.h"
#include "discovery.h"
#include "worker.h"

int
main(int argc, char **argv)
{
	struct config cfg;
	int status;

	worker_setup("discoveryd", argc, argv, &cfg);
	description_init();
	status = discovery_run(&cfg);
	description_cleanup();
	return status;
}
