/* supervise.h -- start the four workers, restart them by policy, stop them together. */
#ifndef SB_SUPERVISE_H
#define SB_SUPERVISE_H

/* Exit statuses of the whole bridge beyond those in log.h. */
#define EXIT_GAVE_UP 3 /* restart intensity exceeded: let systemd or Docker restart us */

/* Run the workers until SIGTERM/SIGINT or a give-up. args are the flags to pass on to every
 * worker (argv without the program name). Returns the process exit status. */
int supervise(const char *rundir, int nargs, char **args);

#endif
