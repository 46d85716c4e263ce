/* rescue.c -- snapshots kept on disk across a playerd crash, and the restore that uses them. */
#include "rescue.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESCUE_MAGIC 0x53425253u /* "SBRS" */
#define RESCUE_VERSION 1

struct rescue_header {
	uint32_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct rescue) of the writer: a different layout is refused */
	uint32_t pad;
};

size_t
rescue_encode(const struct rescue *r, void *buf, size_t size)
{
	struct rescue_header h = {RESCUE_MAGIC, RESCUE_VERSION, sizeof(*r), 0};

	if (size < sizeof(h) + sizeof(*r))
		return 0;
	memcpy(buf, &h, sizeof(h));
	memcpy((char *)buf + sizeof(h), r, sizeof(*r));
	return sizeof(h) + sizeof(*r);
}

int
rescue_decode(const void *buf, size_t len, struct rescue *r)
{
	struct rescue_header h;

	if (len != sizeof(h) + sizeof(*r))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != RESCUE_MAGIC || h.version != RESCUE_VERSION || h.size != sizeof(*r))
		return -1;
	memcpy(r, (const char *)buf + sizeof(h), sizeof(*r));
	/* Everything read back as a C string must be terminated, whatever the file held. */
	r->req.id[sizeof(r->req.id) - 1] = '\0';
	r->req.target[sizeof(r->req.target) - 1] = '\0';
	r->req.voice[sizeof(r->req.voice) - 1] = '\0';
	r->req.text_len = 0;
	if (r->nmembers < 1 || r->nmembers > GROUP_MAX)
		return -1;
	for (int i = -1; i < r->nmembers; i++) {
		struct msg_speaker *sp = i < 0 ? &r->coordinator : &r->members[i];

		sp->uuid[sizeof(sp->uuid) - 1] = sp->room[sizeof(sp->room) - 1] = '\0';
		sp->ip[sizeof(sp->ip) - 1] = sp->model[sizeof(sp->model) - 1] = '\0';
		sp->household[sizeof(sp->household) - 1] = '\0';
		sp->group_id[sizeof(sp->group_id) - 1] = '\0';
		sp->coordinator[sizeof(sp->coordinator) - 1] = '\0';
	}
	r->snap.uri[sizeof(r->snap.uri) - 1] = r->snap.metadata[sizeof(r->snap.metadata) - 1] =
	    '\0';
	r->snap.transport_state[sizeof(r->snap.transport_state) - 1] = '\0';
	r->snap.rel_time[sizeof(r->snap.rel_time) - 1] = '\0';
	r->snap.play_mode[sizeof(r->snap.play_mode) - 1] = '\0';
	if ((unsigned)r->snap.kind > SOURCE_OTHER)
		return -1;
	return 0;
}

/* <state_dir>/rescue, and the file of one coordinator in it. Returns 0 or -1. */
static int
rescue_path(const char *state_dir, const char *uuid, char *out, size_t size)
{
	int n = uuid != NULL ? snprintf(out, size, "%s/rescue/%s", state_dir, uuid)
	                     : snprintf(out, size, "%s/rescue", state_dir);

	if (n < 0 || (size_t)n >= size)
		return -1;
	/* A uuid comes from the network: it must not climb out of the directory. */
	if (uuid != NULL && (uuid[0] == '\0' || uuid[0] == '.' || strchr(uuid, '/') != NULL))
		return -1;
	return 0;
}

int
rescue_save(const struct announcement *a, const struct snapshot *s)
{
	const char *dir = a->ctx->cfg->state_dir;
	char path[512], tmp[540];
	struct rescue *r = calloc(1, sizeof(*r));
	size_t len = sizeof(struct rescue_header) + sizeof(*r);
	void *buf = malloc(len);
	int fd = -1, rv = -1;

	if (r == NULL || buf == NULL || rescue_path(dir, NULL, path, sizeof(path)) < 0 ||
	    util_mkdir_p(path, 0700) < 0 ||
	    rescue_path(dir, a->coordinator.uuid, path, sizeof(path)) < 0)
		goto out;
	memcpy(&r->req, a->req, sizeof(r->req));
	r->req.text_len = 0;
	r->coordinator = a->coordinator;
	memcpy(r->members, a->members, sizeof(r->members));
	r->nmembers = a->nmembers;
	r->snap = *s;
	len = rescue_encode(r, buf, len);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0 || close(fd) < 0) {
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		goto out;
	}
	rv = 0;
out:
	if (rv < 0)
		log_warn("%s: snapshot not kept on disk", a->coordinator.room);
	free(r);
	free(buf);
	return rv;
}

void
rescue_drop(const struct announcement *a)
{
	char path[512];

	if (rescue_path(a->ctx->cfg->state_dir, a->coordinator.uuid, path, sizeof(path)) == 0 &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warn("%s: %s", a->coordinator.room, path);
}

int
rescue_load_all(const char *state_dir, struct rescue *out, int max)
{
	char dirpath[512], path[800];
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (rescue_path(state_dir, NULL, dirpath, sizeof(dirpath)) < 0 ||
	    (d = opendir(dirpath)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		char buf[sizeof(struct rescue_header) + sizeof(struct rescue) + 1];
		ssize_t len;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf));
		close(fd);
		if (len < 0 || rescue_decode(buf, (size_t)len, &out[n]) < 0) {
			log_warnx("%s: not a snapshot of this version; removed", path);
			unlink(path);
			continue;
		}
		n++;
	}
	closedir(d);
	return n;
}
