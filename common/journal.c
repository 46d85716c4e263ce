/* journal.c -- append-only record files that survive crashes: framing, scan, durable appends. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint32_t
journal_crc32(const void *buf, size_t len)
{
	static uint32_t table[256];
	static int ready;
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = 1;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

int
journal_header(uint8_t hdr[JOURNAL_HDR], const void *body, size_t len)
{
	if (len == 0 || len > JOURNAL_BODY_MAX)
		return -1;
	journal_put_u32(hdr, JOURNAL_MAGIC);
	journal_put_u32(hdr + 4, (uint32_t)len);
	journal_put_u32(hdr + 8, journal_crc32(body, len));
	return 0;
}

enum journal_read
journal_record(const uint8_t *buf, size_t len, const uint8_t **body, size_t *body_len,
	       size_t *consumed)
{
	uint32_t n;

	if (len < 4)
		return len > 0 && memcmp(buf, "JRNL", len) != 0 ? JOURNAL_BAD : JOURNAL_SHORT;
	if (journal_get_u32(buf) != JOURNAL_MAGIC)
		return JOURNAL_BAD;
	if (len < JOURNAL_HDR)
		return JOURNAL_SHORT;
	n = journal_get_u32(buf + 4);
	if (n == 0 || n > JOURNAL_BODY_MAX)
		return JOURNAL_BAD;
	if (len - JOURNAL_HDR < n)
		return JOURNAL_SHORT;
	if (journal_crc32(buf + JOURNAL_HDR, n) != journal_get_u32(buf + 8))
		return JOURNAL_BAD;
	*body = buf + JOURNAL_HDR;
	*body_len = n;
	*consumed = JOURNAL_HDR + (size_t)n;
	return JOURNAL_OK;
}

void
journal_scan(const void *data, size_t len, journal_record_cb cb, void *ctx,
	     struct journal_scan *st)
{
	const uint8_t *buf = data;
	size_t pos = 0, damage = 0;

	memset(st, 0, sizeof(*st));
	while (pos < len) {
		const uint8_t *body;
		size_t body_len, used;

		if (journal_record(buf + pos, len - pos, &body, &body_len, &used) != JOURNAL_OK) {
			/* Not a record here: look for the next one byte by byte. */
			pos++;
			damage++;
			continue;
		}
		st->skipped += damage;
		damage = 0;
		if (cb != NULL)
			cb(ctx, body, body_len);
		st->records++;
		pos += used;
		st->end = pos;
	}
}

/* Read the whole file at fd into a malloc'ed buffer. */
static int
read_all(int fd, uint8_t **out, size_t *outlen)
{
	size_t cap = 64 * 1024, len = 0;
	uint8_t *buf = malloc(cap);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *bigger = realloc(buf, cap * 2);

			if (bigger == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* fsync the directory holding path, so a created or renamed file survives a power loss. */
static int
sync_dir(const char *path)
{
	char copy[520];
	int fd, rv = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		rv = -errno;
	close(fd);
	return rv;
}

int
journal_open(struct journal *j, const char *path, journal_record_cb cb, void *ctx,
	     struct journal_scan *st, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rv;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	if (snprintf(j->path, sizeof(j->path), "%s", path) >= (int)sizeof(j->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	if ((j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rv));
		return rv;
	}
	if ((rv = read_all(j->fd, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: read: %s", path, strerror(-rv));
		journal_close(j);
		return rv;
	}
	journal_scan(buf, len, cb, ctx, st);
	free(buf);
	if (st->end < len && ftruncate(j->fd, (off_t)st->end) < 0) {
		rv = -errno;
		snprintf(err, errlen, "%s: cutting a torn tail: %s", path, strerror(-rv));
		journal_close(j);
		return rv;
	}
	j->size = st->end;
	if (len == 0)
		sync_dir(path); /* a new file: make its name durable too */
	return 0;
}

/* write() all of buf, retrying short writes. */
static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Header and body as one buffer, so a record is one write() call. */
static uint8_t *
frame(const void *body, size_t len)
{
	uint8_t *rec;

	if (len == 0 || len > JOURNAL_BODY_MAX || (rec = malloc(JOURNAL_HDR + len)) == NULL)
		return NULL;
	journal_header(rec, body, len);
	memcpy(rec + JOURNAL_HDR, body, len);
	return rec;
}

int
journal_append(struct journal *j, const void *body, size_t len, int sync)
{
	uint8_t *rec;
	int rv;

	if (j->fd < 0)
		return -EBADF;
	if ((rec = frame(body, len)) == NULL)
		return len == 0 || len > JOURNAL_BODY_MAX ? -EINVAL : -ENOMEM;
	rv = write_all(j->fd, rec, JOURNAL_HDR + len);
	free(rec);
	if (rv == 0 && sync && fdatasync(j->fd) < 0)
		rv = -errno;
	if (rv < 0) {
		/* Leave no partial record behind for the next append to follow. */
		if (ftruncate(j->fd, (off_t)j->size) < 0) {
			/* the scan at the next start skips it */
		}
		return rv;
	}
	j->size += JOURNAL_HDR + len;
	j->unsynced = !sync;
	return 0;
}

int
journal_sync(struct journal *j)
{
	if (j->fd < 0 || !j->unsynced)
		return 0;
	if (fdatasync(j->fd) < 0)
		return -errno;
	j->unsynced = 0;
	return 0;
}

int
journal_rewrite_begin(const struct journal *j, struct journal_rewrite *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->path, sizeof(w->path), "%s.new", j->path);
	/* O_APPEND: after the rename this same descriptor takes the journal's appends. */
	if ((w->fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600)) <
	    0) {
		w->error = -errno;
		return w->error;
	}
	return 0;
}

void
journal_rewrite_add(struct journal_rewrite *w, const void *body, size_t len)
{
	uint8_t *rec;

	if (w->error != 0)
		return;
	if ((rec = frame(body, len)) == NULL) {
		w->error = -ENOMEM;
		return;
	}
	w->error = write_all(w->fd, rec, JOURNAL_HDR + len);
	free(rec);
	if (w->error == 0)
		w->size += JOURNAL_HDR + len;
}

void
journal_rewrite_abort(struct journal_rewrite *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		unlink(w->path);
	}
	w->fd = -1;
}

int
journal_rewrite_commit(struct journal *j, struct journal_rewrite *w)
{
	int rv;

	if (w->error == 0 && fsync(w->fd) < 0)
		w->error = -errno;
	if (w->error == 0 && rename(w->path, j->path) < 0)
		w->error = -errno;
	if (w->error != 0) {
		rv = w->error;
		journal_rewrite_abort(w);
		return rv;
	}
	sync_dir(j->path);
	close(j->fd);
	j->fd = w->fd;
	w->fd = -1;
	j->size = w->size;
	j->unsynced = 0;
	return 0;
}

void
journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}
