/* test_spool.c -- the journal framing, the inbound spool's records and table, replay of torn
 * and corrupt files, compaction, derived request ids, and playerd's dedup records. */
#include "check.h"
#include "dedup.h"
#include "journal.h"
#include "request.h"
#include "spool.h"
#include "spool_core.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An ADD record for id with a small fake bus payload. */
static struct spool_record
add_record(const char *id, const char *payload, uint64_t t)
{
	struct spool_record r = {.op = SPOOL_ADD, .msg_type = MSG_REQUEST, .time_ms = t,
				 .deadline_ms = t + 300000, .payload = (const uint8_t *)payload,
				 .len = strlen(payload)};

	msg_strlcpy(r.id, id, sizeof(r.id));
	return r;
}

static struct spool_record
done_record(const char *id, uint64_t t)
{
	struct spool_record r = {.op = SPOOL_DONE, .time_ms = t, .deadline_ms = t};

	msg_strlcpy(r.id, id, sizeof(r.id));
	return r;
}

/* Append one framed record to a growing buffer. */
static size_t
put_framed(uint8_t *buf, size_t at, const struct spool_record *r)
{
	uint8_t body[512];
	int n = spool_record_encode(r, body, sizeof(body));

	if (n < 0)
		return at;
	journal_header(buf + at, body, (size_t)n);
	memcpy(buf + at + JOURNAL_HDR, body, (size_t)n);
	return at + JOURNAL_HDR + (size_t)n;
}

static void
count_cb(void *ctx, const uint8_t *body, size_t len)
{
	struct spool_record r;

	if (spool_record_decode(body, len, &r) == 0)
		spool_apply(ctx, &r);
}

static void
test_crc(void)
{
	/* The check value of CRC-32/IEEE. */
	CHECK_INT(journal_crc32("123456789", 9), 0xcbf43926u);
	CHECK_INT(journal_crc32("", 0), 0);
}

static void
test_record_roundtrip(void)
{
	struct spool_record r = add_record("door-1", "payload bytes", 1000), d;
	uint8_t body[256];
	int n = spool_record_encode(&r, body, sizeof(body));

	CHECK(n > 0);
	CHECK_INT(n, (int)spool_record_size(&r));
	CHECK_INT(spool_record_decode(body, (size_t)n, &d), 0);
	CHECK_INT(d.op, SPOOL_ADD);
	CHECK_INT(d.msg_type, MSG_REQUEST);
	CHECK_STR(d.id, "door-1");
	CHECK_INT(d.time_ms, 1000);
	CHECK_INT(d.deadline_ms, 301000);
	CHECK_INT(d.len, 13);
	CHECK(memcmp(d.payload, "payload bytes", 13) == 0);

	/* Too small an output, empty id, unknown op. */
	CHECK_INT(spool_record_encode(&r, body, 10), -1);
	r.id[0] = '\0';
	CHECK_INT(spool_record_encode(&r, body, sizeof(body)), -1);
	r = done_record("x", 5);
	r.op = 9;
	CHECK_INT(spool_record_encode(&r, body, sizeof(body)), -1);

	/* Every truncation and every single-byte change of a DONE body is handled safely; the
	 * truncations are all rejected. */
	r = done_record("finished-7", 77);
	n = spool_record_encode(&r, body, sizeof(body));
	CHECK(n > 0);
	for (int len = 0; len < n; len++)
		CHECK_INT(spool_record_decode(body, (size_t)len, &d), -1);
	for (int i = 0; i < n; i++) {
		uint8_t copy[256];

		memcpy(copy, body, (size_t)n);
		copy[i] ^= 0x5a;
		(void)spool_record_decode(copy, (size_t)n, &d);
	}
	/* A NUL inside the id, an ADD of unknown message type. */
	body[SPOOL_REC_FIXED + 2] = '\0';
	CHECK_INT(spool_record_decode(body, (size_t)n, &d), -1);
	r = add_record("a", "p", 1);
	r.msg_type = MSG_TYPE_MAX;
	n = spool_record_encode(&r, body, sizeof(body));
	CHECK_INT(spool_record_decode(body, (size_t)n, &d), -1);
}

static void
test_replay(void)
{
	uint8_t buf[4096];
	size_t len = 0, cut;
	struct spool_record a = add_record("a", "AAAA", 1), b = add_record("b", "BBBB", 2),
			    c = add_record("c", "CCCC", 3), da = done_record("a", 4);
	struct journal_scan st;
	struct spool_table t;

	len = put_framed(buf, len, &a);
	len = put_framed(buf, len, &b);
	len = put_framed(buf, len, &da);
	len = put_framed(buf, len, &a); /* a redelivery after it finished: stays finished */
	cut = len;
	len = put_framed(buf, len, &c);

	/* Intact: b and c live in order, a a tombstone. */
	spool_table_init(&t);
	journal_scan(buf, len, count_cb, &t, &st);
	CHECK_INT(st.records, 5);
	CHECK_INT(st.skipped, 0);
	CHECK_INT(st.end, len);
	CHECK_INT(t.live.count, 2);
	CHECK_STR(t.live.head->id, "b");
	CHECK_STR(t.live.tail->id, "c");
	CHECK_INT(t.done.count, 1);
	CHECK(spool_find(&t, "a") != NULL && spool_find(&t, "a")->done);
	spool_table_free(&t);

	/* Torn tail: every cut inside the last record loses only that record. */
	for (size_t l = cut + 1; l < len; l++) {
		spool_table_init(&t);
		journal_scan(buf, l, count_cb, &t, &st);
		CHECK_INT(st.records, 4);
		CHECK_INT(st.end, cut);
		CHECK_INT(st.skipped, 0);
		CHECK_INT(t.live.count, 1);
		spool_table_free(&t);
	}

	/* A flipped byte in b's body: b is lost, what follows is found again. */
	{
		uint8_t bad[4096];

		memcpy(bad, buf, len);
		bad[JOURNAL_HDR + spool_record_size(&a) + JOURNAL_HDR + JOURNAL_HDR + 3] ^= 1;
		spool_table_init(&t);
		journal_scan(bad, len, count_cb, &t, &st);
		CHECK_INT(st.records, 4);
		CHECK(st.skipped > 0);
		CHECK_INT(st.end, len);
		CHECK(spool_find(&t, "b") == NULL);
		CHECK(spool_find(&t, "c") != NULL && !spool_find(&t, "c")->done);
		spool_table_free(&t);
	}

	/* Garbage in front and a length field pointing far past the end. */
	{
		uint8_t junk[4096 + 64];

		memset(junk, 'J', 20); /* 'J' is the first magic byte: a near miss each time */
		memcpy(junk + 20, buf, len);
		spool_table_init(&t);
		journal_scan(junk, len + 20, count_cb, &t, &st);
		CHECK_INT(st.records, 5);
		CHECK_INT(st.skipped, 20);
		spool_table_free(&t);

		memcpy(junk, buf, len);
		journal_put_u32(junk + 4, 0x7fffffff);
		spool_table_init(&t);
		journal_scan(junk, len, count_cb, &t, &st);
		CHECK_INT(st.records, 4);
		spool_table_free(&t);
	}
}

static void
test_table(void)
{
	struct spool_table t;
	struct spool_record r;
	char id[32];

	spool_table_init(&t);
	/* Enough entries to make the buckets grow. */
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "req-%d", i);
		r = add_record(id, "x", (uint64_t)i);
		CHECK(spool_add_live(&t, &r) != NULL);
	}
	CHECK(t.nbuckets > 1024);
	CHECK(spool_add_live(&t, &r) == NULL); /* a repeat */
	CHECK_INT(t.live.count, 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "req-%d", i);
		spool_mark_done(&t, spool_find(&t, id), 10000 + (uint64_t)i);
	}
	CHECK_INT(t.live.count, 0);
	CHECK_INT(t.live_bytes, 0);
	CHECK_INT(t.done.count, 5000);
	/* Beyond the count, the oldest tombstones go; then by age. */
	CHECK_INT(spool_prune(&t, 20000, 1000000, 4096), 5000 - 4096);
	CHECK(spool_find(&t, "req-0") == NULL);
	CHECK(spool_find(&t, "req-4999") != NULL);
	CHECK_INT(spool_prune(&t, 10000 + 4999 + 100, 100, 4096), 4096 - 1);
	CHECK_INT(t.done.count, 1);

	/* Terminal events noted per speaker. */
	r = add_record("all-1", "x", 1);
	{
		struct spool_entry *e = spool_add_live(&t, &r);

		CHECK_INT(spool_note_reported(e, "RINCON_A"), 0);
		CHECK_INT(spool_note_reported(e, "RINCON_B"), 0);
		CHECK_INT(spool_note_reported(e, "RINCON_A"), 1);
	}
	spool_table_free(&t);

	CHECK(!spool_compact_due(100, 10));
	CHECK(!spool_compact_due(4 * 1024 * 1024, 3 * 1024 * 1024));
	CHECK(spool_compact_due(4 * 1024 * 1024, 1024));
}

/* The file: survives a reopen, cuts a torn tail, compacts. */
static void
test_file(void)
{
	char dir[] = "/tmp/sbspoolXXXXXX", path[128];
	struct spool s;
	struct spool_record r;
	struct spool_entry *e;
	char err[256];
	int error, fd;
	struct stat sb;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_FILE);
	CHECK_INT(spool_open(&s, dir, err, sizeof(err)), 0);
	r = add_record("one", "first request", 100);
	CHECK(spool_accept(&s, &r, &error) != NULL);
	r = add_record("two", "second request", 200);
	CHECK((e = spool_accept(&s, &r, &error)) != NULL);
	spool_complete(&s, e, 300);
	spool_close(&s);

	/* A torn write at the end, as a crash in the middle of an append leaves it. */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "JRNL\x40\x00", 6), 6);
	close(fd);

	CHECK_INT(spool_open(&s, dir, err, sizeof(err)), 0);
	CHECK_INT(s.table.live.count, 1);
	CHECK_STR(s.table.live.head->id, "one");
	CHECK(memcmp(s.table.live.head->payload, "first request", 13) == 0);
	CHECK_INT(s.table.done.count, 1);
	CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == s.journal.size);
	/* Appends continue on a record boundary. */
	r = add_record("three", "third", 400);
	CHECK(spool_accept(&s, &r, &error) != NULL);
	/* A rewrite keeps live requests and tombstones only. */
	spool_complete(&s, spool_find(&s.table, "one"), 500);
	CHECK_INT(spool_compact(&s), 0);
	CHECK_INT(s.journal.size, spool_needed_bytes(&s.table));
	r = add_record("four", "fourth", 600);
	CHECK(spool_accept(&s, &r, &error) != NULL);
	spool_close(&s);

	CHECK_INT(spool_open(&s, dir, err, sizeof(err)), 0);
	CHECK_INT(s.table.live.count, 2);
	CHECK_STR(s.table.live.head->id, "three");
	CHECK_STR(s.table.live.tail->id, "four");
	CHECK_INT(s.table.done.count, 2);
	CHECK_INT(s.opened.skipped, 0);
	spool_close(&s);

	unlink(path);
	rmdir(dir);
}

static void
test_derive_id(void)
{
	char a[MSG_ID_MAX], b[MSG_ID_MAX], c[MSG_ID_MAX], d[MSG_ID_MAX];

	request_derive_id("sonos/kitchen/tts", "hello", 5, 17, a);
	request_derive_id("sonos/kitchen/tts", "hello", 5, 17, b);
	request_derive_id("sonos/kitchen/tts", "hello", 5, 18, c);
	request_derive_id("sonos/living/tts", "hello", 5, 17, d);
	CHECK_STR(a, b); /* a redelivery */
	CHECK(strcmp(a, c) != 0);
	CHECK(strcmp(a, d) != 0);
	CHECK_INT(strlen(a), 25);
	CHECK(strncmp(a, "auto-", 5) == 0);
	CHECK(request_id_valid(a, strlen(a)));
}

static void
test_dedup_records(void)
{
	struct dedup_record r, d;
	uint8_t body[1024];
	int n;

	memset(&r, 0, sizeof(r));
	r.op = DEDUP_FINISHED;
	r.status = EVENT_DONE;
	r.duration_ms = 1636;
	r.time_ms = 123456789;
	msg_strlcpy(r.id, "door-1", sizeof(r.id));
	msg_strlcpy(r.uuid, "RINCON_000E58A0123401400", sizeof(r.uuid));
	msg_strlcpy(r.room, "Living Room", sizeof(r.room));
	msg_strlcpy(r.error, "played, but source not restored", sizeof(r.error));
	n = dedup_record_encode(&r, body, sizeof(body));
	CHECK(n > 0);
	CHECK_INT(dedup_record_decode(body, (size_t)n, &d), 0);
	CHECK_INT(d.op, DEDUP_FINISHED);
	CHECK_INT(d.status, EVENT_DONE);
	CHECK_INT(d.duration_ms, 1636);
	CHECK_STR(d.id, "door-1");
	CHECK_STR(d.uuid, "RINCON_000E58A0123401400");
	CHECK_STR(d.room, "Living Room");
	CHECK_STR(d.error, "played, but source not restored");
	for (int len = 0; len < n; len++)
		CHECK_INT(dedup_record_decode(body, (size_t)len, &d), -1);
	for (int i = 0; i < n; i++) {
		uint8_t copy[1024];

		memcpy(copy, body, (size_t)n);
		copy[i] ^= 0xff;
		(void)dedup_record_decode(copy, (size_t)n, &d);
	}
	r.status = 0; /* a finished record needs a terminal status */
	n = dedup_record_encode(&r, body, sizeof(body));
	CHECK_INT(dedup_record_decode(body, (size_t)n, &d), -1);
	r.op = DEDUP_STARTED;
	n = dedup_record_encode(&r, body, sizeof(body));
	CHECK_INT(dedup_record_decode(body, (size_t)n, &d), 0);
	CHECK_INT(dedup_record_encode(&r, body, 10), -1);
	r.op = DEDUP_UNSTARTED; /* takes a start back */
	n = dedup_record_encode(&r, body, sizeof(body));
	CHECK(n > 0);
	CHECK_INT(dedup_record_decode(body, (size_t)n, &d), 0);
	CHECK_INT(d.op, DEDUP_UNSTARTED);
	CHECK_STR(d.id, "door-1");
	body[0] = DEDUP_UNSTARTED + 1; /* unknown op */
	CHECK_INT(dedup_record_decode(body, (size_t)n, &d), -1);
	r.op = DEDUP_UNSTARTED + 1;
	CHECK_INT(dedup_record_encode(&r, body, sizeof(body)), -1);
}

int
main(void)
{
	test_crc();
	test_record_roundtrip();
	test_replay();
	test_table();
	test_file();
	test_derive_id();
	test_dedup_records();
	CHECK_DONE();
}
