/* status.h -- the status socket: <runtime_dir>/status.sock (mode 0600) answers each connection
 * with one JSON document and closes it. */
#ifndef SB_STATUS_H
#define SB_STATUS_H

#include <uv.h>

/* Listen on <rundir>/status.sock; for each client, make() returns the malloc'ed document.
 * Returns 0 or -1 (logged). */
int status_listen(uv_loop_t *loop, const char *rundir, char *(*make)(void));

/* Stop listening and remove the socket file. */
void status_close(void);

#endif
