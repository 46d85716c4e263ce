/* lock.c -- one bridge per directory: an flock on <dir>/lock held for the supervisor's life.
 * flock rather than a pid file alone: the kernel drops it when the holder dies, however it
 * dies, so a stale file never blocks a start. */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int
dir_lock(const char *dir, pid_t *holder, char *err, size_t errlen)
{
	char path[512], buf[32];
	ssize_t n;
	int fd, len;

	*holder = 0;
	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s/lock: path too long", dir);
		return -ENAMETOOLONG;
	}
	/* Close-on-exec: a worker must not inherit (and so extend) the lock. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		if (e == EWOULDBLOCK) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				*holder = (pid_t)atol(buf);
			}
			close(fd);
			snprintf(err, errlen, "%s is locked", path);
			return -EAGAIN;
		}
		close(fd);
		snprintf(err, errlen, "flock %s: %s", path, strerror(e));
		return -e;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -EIO;
	}
	return 0; /* fd stays open: the lock lives as long as this process */
}
