/* clientid.c -- the broker client id: made once with libuuid, kept in <state_dir>/client_id. */
#include "clientid.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

int
clientid_valid(const char *s, size_t len)
{
	if (len == 0 || len >= CLIENTID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

void
clientid_uuid(char out[37])
{
	uuid_t u;

	uuid_generate(u);
	uuid_unparse_lower(u, out);
}

/* Read the file into out. Returns 1 if it held a valid id, 0 if missing or unusable, -1 on
 * an error that a new file would not fix. */
static int
clientid_read(const char *path, char *out, size_t size, char *err, size_t errlen)
{
	char buf[CLIENTID_MAX * 2];
	ssize_t n;
	size_t len;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	len = (size_t)n;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	if (!clientid_valid(buf, len) || len >= size) {
		log_warnx("%s: not a usable client id, making a new one", path);
		return 0;
	}
	memcpy(out, buf, len);
	out[len] = '\0';
	return 1;
}

/* Write id to path through a temp file, so a crash leaves the old file or the new one. */
static int
clientid_write(const char *dir, const char *path, const char *id, char *err, size_t errlen)
{
	char tmp[512], line[CLIENTID_MAX + 1];
	int fd, dfd, n = snprintf(tmp, sizeof(tmp), "%s/client_id.tmp", dir);
	size_t len;

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	len = (size_t)snprintf(line, sizeof(line), "%s\n", id);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, line, len) != (ssize_t)len || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno ? errno : EIO));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename itself is durable only once the directory is synced. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
clientid_load(const char *state_dir, char *out, size_t size, int *created, char *err,
	      size_t errlen)
{
	char path[512], uuid[37], id[CLIENTID_MAX];
	int n = snprintf(path, sizeof(path), "%s/client_id", state_dir), rv;

	*created = 0;
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "state_dir: path too long");
		return -1;
	}
	if (util_mkdir_p(state_dir, 0700) < 0) {
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		return -1;
	}
	if ((rv = clientid_read(path, out, size, err, errlen)) != 0)
		return rv < 0 ? -1 : 0;
	clientid_uuid(uuid);
	snprintf(id, sizeof(id), "%s%s", CLIENTID_PREFIX, uuid);
	if (strlen(id) >= size) {
		snprintf(err, errlen, "client id buffer too small");
		return -1;
	}
	if (clientid_write(state_dir, path, id, err, errlen) < 0)
		return -1;
	memcpy(out, id, strlen(id) + 1);
	*created = 1;
	return 0;
}
