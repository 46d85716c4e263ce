/* lock.h -- one bridge per directory: an flock on <dir>/lock held for the supervisor's life. */
#ifndef SB_LOCK_H
#define SB_LOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Lock <dir>/lock and write our pid into it. Returns 0 (the lock is held until exit), -EAGAIN
 * when another process holds it (its pid in *holder, 0 if unknown), or another negative errno
 * with the failing step in err. */
int dir_lock(const char *dir, pid_t *holder, char *err, size_t errlen);

#endif
