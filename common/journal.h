/* journal.h -- append-only record files that survive crashes: checksummed framing, a scan that
 * skips torn or corrupt records, appends made durable with fdatasync, and atomic rewrites.
 *
 * A record on disk: magic (4 bytes), body length (4), CRC-32 of the body (4), body. Integers
 * are little-endian. The framing and the scan are pure; the file functions below them do I/O. */
#ifndef SB_JOURNAL_H
#define SB_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_MAGIC 0x4c4e524au /* "JRNL" read as little-endian */
#define JOURNAL_HDR 12
#define JOURNAL_BODY_MAX (128 * 1024)

/* CRC-32 (IEEE 802.3, as zlib computes it). */
uint32_t journal_crc32(const void *buf, size_t len);

/* Write the header for a body of len bytes into hdr. Returns 0, or -1 when len is too big. */
int journal_header(uint8_t hdr[JOURNAL_HDR], const void *body, size_t len);

enum journal_read {
	JOURNAL_OK,    /* a whole, intact record */
	JOURNAL_SHORT, /* the buffer ends inside the record (a torn write, at the tail) */
	JOURNAL_BAD,   /* not a record here: wrong magic, impossible length or checksum */
};

/* Read the record at buf[0..len). On JOURNAL_OK sets *body, *body_len and *consumed (header
 * and body). Pure, safe on any input. */
enum journal_read journal_record(const uint8_t *buf, size_t len, const uint8_t **body,
				 size_t *body_len, size_t *consumed);

struct journal_scan {
	size_t records; /* intact records found */
	size_t skipped; /* bytes before the last intact record that belong to none (damage) */
	size_t end;     /* offset just past the last intact record; what follows is a torn tail */
};

/* Called for each intact record in file order. */
typedef void (*journal_record_cb)(void *ctx, const uint8_t *body, size_t len);

/* Call cb for every intact record of buf, in order. Damage is skipped by searching for the
 * next intact record, so one bad record does not hide the ones after it. Pure. */
void journal_scan(const void *buf, size_t len, journal_record_cb cb, void *ctx,
		  struct journal_scan *st);

/* Little-endian field helpers for record bodies. */
static inline void
journal_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
journal_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
journal_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t
journal_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
journal_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t
journal_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- the file ---- */

struct journal {
	int fd;          /* open for appending; -1 when closed */
	char path[512];
	uint64_t size;   /* bytes in the file */
	int unsynced;    /* records appended without fdatasync */
};

/* Open (creating, mode 0600) the journal at path, feed every intact record to cb, and cut off
 * a torn tail so that appends start on a record boundary. Returns 0, or a negative errno with
 * the reason in err. */
int journal_open(struct journal *j, const char *path, journal_record_cb cb, void *ctx,
		 struct journal_scan *st, char *err, size_t errlen);

/* Append one record; with sync, fdatasync before returning, so the record survives a crash of
 * the process or the machine once this returns 0. On failure the file is cut back to its size
 * before the call (best effort) and a negative errno is returned. */
int journal_append(struct journal *j, const void *body, size_t len, int sync);

/* fdatasync when records were appended without it. Returns 0 or a negative errno. */
int journal_sync(struct journal *j);

/* A rewrite in progress: records go to <path>.new, which replaces the journal on commit. */
struct journal_rewrite {
	int fd;
	uint64_t size;
	int error; /* first negative errno, 0 when fine */
	char path[520];
};

int journal_rewrite_begin(const struct journal *j, struct journal_rewrite *w);
void journal_rewrite_add(struct journal_rewrite *w, const void *body, size_t len);
/* fsync the new file, rename it over the journal, fsync the directory, continue appending to
 * the new file. On error the old journal stays in use. Returns 0 or a negative errno. */
int journal_rewrite_commit(struct journal *j, struct journal_rewrite *w);
void journal_rewrite_abort(struct journal_rewrite *w);

void journal_close(struct journal *j);

#endif
