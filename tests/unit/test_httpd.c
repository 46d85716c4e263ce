/* test_httpd.c -- httpd's pure parts: SHA-256, clip names and rules, WAV headers, HTTP request
 * heads, Range values, the clip path rule and response heads. */
#include "check.h"
#include "clip.h"
#include "http_request.h"
#include "http_response.h"
#include "sha256.h"
#include "wav.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static void
sha_hex_of(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	uint8_t d[SHA256_DIGEST_LEN];
	struct sha256 h;

	sha256_init(&h);
	sha256_update(&h, data, len);
	sha256_final(&h, d);
	sha256_hex(d, hex);
}

/* Vectors from the NIST examples for FIPS 180-4 (SHA256.pdf) and the long-message test. */
static void
test_sha256(void)
{
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmno"
	                   "pjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char hex[SHA256_HEX_LEN + 1], hex2[SHA256_HEX_LEN + 1];
	uint8_t d[SHA256_DIGEST_LEN];
	struct sha256 h;
	char block[1000];

	sha_hex_of("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha_hex_of("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha_hex_of(m448, strlen(m448), hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	sha_hex_of(m896, strlen(m896), hex);
	CHECK_STR(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

	memset(block, 'a', sizeof(block));
	sha256_init(&h);
	for (int i = 0; i < 1000; i++)
		sha256_update(&h, block, sizeof(block));
	sha256_final(&h, d);
	sha256_hex(d, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	/* Any split of the input gives the same digest, around the 55/56/64-byte edges too. */
	for (size_t len = 0; len < 130; len++) {
		sha_hex_of(block, len, hex);
		for (size_t cut = 0; cut <= len; cut += 7) {
			sha256_init(&h);
			sha256_update(&h, block, cut);
			sha256_update(&h, block + cut, len - cut);
			sha256_final(&h, d);
			sha256_hex(d, hex2);
			CHECK_STR(hex2, hex);
		}
	}
}

static void
test_clip(void)
{
	char a[CLIP_NAME_MAX], b[CLIP_NAME_MAX], name[CLIP_NAME_MAX], err[160], target[96];

	clip_name("en", "Hello", 5, a);
	CHECK_INT(strlen(a), 68);
	CHECK_STR(a + 64, ".wav");
	clip_name("en", "Hello", 5, b);
	CHECK_STR(a, b);
	clip_name("ab", "c", 1, a);
	clip_name("a", "bc", 2, b);
	CHECK(strcmp(a, b) != 0);
	clip_name("de", "Hello", 5, b);
	snprintf(target, sizeof(target), "/clips/%s", b);
	CHECK_INT(http_clip_target(target, name, sizeof(name)), 1);
	CHECK_STR(name, b);

	CHECK(clip_voice_valid("en"));
	CHECK(clip_voice_valid("en-us"));
	CHECK(clip_voice_valid("de+f3"));
	CHECK(!clip_voice_valid(""));
	CHECK(!clip_voice_valid("../../etc/passwd"));
	CHECK(!clip_voice_valid("en us"));
	CHECK(!clip_voice_valid("0123456789012345678901234567890123"));

	CHECK_INT(clip_text_check("Hi", 2, 100, err, sizeof(err)), 0);
	CHECK_INT(clip_text_check("", 0, 100, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "empty") != NULL);
	CHECK_INT(clip_text_check(" \n\t", 3, 100, err, sizeof(err)), -EINVAL);
	CHECK_INT(clip_text_check("Hello", 5, 4, err, sizeof(err)), -EMSGSIZE);
	CHECK_INT(clip_text_check("a\0b", 3, 100, err, sizeof(err)), -EILSEQ);
	CHECK_INT(clip_text_check("\xc3\x28", 2, 100, err, sizeof(err)), -EILSEQ);
	CHECK(strstr(err, "UTF-8") != NULL);
	CHECK_INT(clip_text_check("Gr\xc3\xbc\xc3\x9f"
	                          "e",
	                          6, 100, err, sizeof(err)),
	          0);
}

static void
put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
test_wav(void)
{
	uint8_t h[WAV_HEADER_LEN], buf[256];
	struct wav_info wi;
	char err[160];
	uint32_t rng = 12345;

	/* Good: 1 s of 22050 Hz mono 16-bit. */
	CHECK_INT(wav_header_build(h, 22050, 1, 16, 44100), 0);
	CHECK(memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WAVEfmt ", 8) == 0);
	CHECK_INT(wav_header_parse(h, sizeof(h), sizeof(h) + 44100, &wi, err, sizeof(err)), 0);
	CHECK_INT(wi.sample_rate, 22050);
	CHECK_INT(wi.channels, 1);
	CHECK_INT(wi.bits, 16);
	CHECK_INT(wi.data_offset, 44);
	CHECK_INT(wi.data_bytes, 44100);
	CHECK_INT(wi.duration_ms, 1000);
	CHECK_INT(wav_header_build(h, 0, 1, 16, 10), -1);
	CHECK_INT(wav_header_build(h, 22050, 1, 12, 10), -1);
	CHECK_INT(wav_header_build(h, 22050, 1, 16, UINT32_MAX), -1);

	/* Truncated: every prefix of the header, and a file shorter than its data chunk. */
	wav_header_build(h, 22050, 1, 16, 44100);
	for (size_t n = 0; n < sizeof(h); n++)
		CHECK_INT(wav_header_parse(h, n, 1000000, &wi, err, sizeof(err)), -1);
	CHECK_INT(wav_header_parse(h, sizeof(h), sizeof(h) + 44099, &wi, err, sizeof(err)), -1);
	CHECK(strstr(err, "data chunk") != NULL);
	/* file_size smaller than the buffer: only file_size bytes count. */
	CHECK_INT(wav_header_parse(h, sizeof(h), 40, &wi, err, sizeof(err)), -1);

	/* A LIST chunk (odd size, padded) before data is skipped. */
	memcpy(buf, h, 36);
	memcpy(buf + 36, "LIST", 4);
	put32le(buf + 40, 5);
	memcpy(buf + 44, "abcde\0", 6);
	memcpy(buf + 50, "data", 4);
	put32le(buf + 54, 4);
	CHECK_INT(wav_header_parse(buf, 58, 62, &wi, err, sizeof(err)), 0);
	CHECK_INT(wi.data_offset, 58);
	CHECK_INT(wi.data_bytes, 4);

	/* Hostile chunk sizes: a 4 GB chunk must not wrap the position. */
	memcpy(buf, h, 36);
	memcpy(buf + 36, "junk", 4);
	put32le(buf + 40, 0xffffffffu);
	CHECK_INT(wav_header_parse(buf, 44, 1000, &wi, err, sizeof(err)), -1);
	memcpy(buf, h, sizeof(h));
	put32le(buf + 16, 0xffffffffu); /* fmt chunk size */
	CHECK_INT(wav_header_parse(buf, 44, 1000000, &wi, err, sizeof(err)), -1);
	memcpy(buf, h, sizeof(h));
	put32le(buf + 40, 0xffffffffu); /* data size */
	CHECK_INT(wav_header_parse(buf, 44, 1000000, &wi, err, sizeof(err)), -1);

	/* Not PCM, bad block align, zero rate, data before fmt, not RIFF. */
	memcpy(buf, h, sizeof(h));
	buf[20] = 3;
	CHECK_INT(wav_header_parse(buf, 44, 44 + 44100, &wi, err, sizeof(err)), -1);
	CHECK(strstr(err, "PCM") != NULL);
	memcpy(buf, h, sizeof(h));
	buf[32] = 4;
	CHECK_INT(wav_header_parse(buf, 44, 44 + 44100, &wi, err, sizeof(err)), -1);
	memcpy(buf, h, sizeof(h));
	put32le(buf + 24, 0);
	CHECK_INT(wav_header_parse(buf, 44, 44 + 44100, &wi, err, sizeof(err)), -1);
	memcpy(buf, "RIFF\0\0\0\0WAVEdata\4\0\0\0abcd", 24);
	CHECK_INT(wav_header_parse(buf, 24, 24, &wi, err, sizeof(err)), -1);
	CHECK_INT(wav_header_parse("RIFX", 4, 4, &wi, err, sizeof(err)), -1);
	/* Odd data length for 16-bit frames. */
	wav_header_build(buf, 22050, 1, 16, 3);
	CHECK_INT(wav_header_parse(buf, 44, 47, &wi, err, sizeof(err)), -1);

	/* Random mutations of a good header: never crash, and a success stays in bounds. */
	for (int i = 0; i < 20000; i++) {
		size_t len;

		memcpy(buf, h, sizeof(h));
		memset(buf + sizeof(h), 0, sizeof(buf) - sizeof(h));
		for (int k = 0; k < 4; k++) {
			rng = rng * 1103515245u + 12345u;
			buf[(rng >> 8) % 64] = (uint8_t)(rng >> 16);
		}
		rng = rng * 1103515245u + 12345u;
		len = (rng >> 8) % (sizeof(buf) + 1);
		if (wav_header_parse(buf, len, 50000, &wi, err, sizeof(err)) == 0)
			CHECK(wi.data_offset <= len && wi.data_offset + wi.data_bytes <= 50000);
	}
}

static int
parse(const char *s, struct http_request *req)
{
	return http_request_parse(s, strlen(s), req);
}

static void
test_http_request(void)
{
	const char *get = "GET /clips/x.wav HTTP/1.1\r\nHost: 10.0.0.2:8047\r\n"
	                  "User-Agent: Linux UPnP/1.0 Sonos/70.3\r\nRange: bytes=0-99\r\n\r\n";
	struct http_request req;
	char big[HTTP_HEAD_MAX + 100];
	uint32_t rng = 99;
	size_t n;

	CHECK_INT(parse(get, &req), (int)strlen(get));
	CHECK_INT(req.method, HTTP_METHOD_GET);
	CHECK_STR(req.method_name, "GET");
	CHECK_STR(req.target, "/clips/x.wav");
	CHECK_INT(req.version, 11);
	CHECK_INT(req.keep_alive, 1);
	CHECK_INT(req.has_range, 1);
	CHECK_STR(req.range, "bytes=0-99");
	CHECK_INT(req.head_len, strlen(get));

	/* Every proper prefix needs more bytes. */
	for (n = 0; n < strlen(get); n++)
		CHECK_INT(http_request_parse(get, n, &req), 0);

	/* Pipelined: the first head only. */
	snprintf(big, sizeof(big), "%sHEAD / HTTP/1.1\r\nHost: a\r\n\r\n", get);
	CHECK_INT(parse(big, &req), (int)strlen(get));
	CHECK_INT(parse(big + strlen(get), &req), (int)strlen(big + strlen(get)));
	CHECK_INT(req.method, HTTP_METHOD_HEAD);

	/* HTTP/1.0: close unless keep-alive; LF-only lines; leading empty line. */
	CHECK(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
	CHECK_INT(req.keep_alive, 0);
	CHECK(parse("\r\nGET / HTTP/1.0\nConnection: Keep-Alive\n\n", &req) > 0);
	CHECK_INT(req.keep_alive, 1);
	CHECK_INT(req.version, 10);
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &req) > 0);
	CHECK_INT(req.keep_alive, 0);
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", &req) > 0);
	CHECK_INT(req.has_body, 1);
	CHECK_INT(req.keep_alive, 0);
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req) > 0);
	CHECK_INT(req.keep_alive, 1);
	CHECK(parse("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
	CHECK_INT(req.method, HTTP_METHOD_OTHER);
	CHECK_STR(req.method_name, "DELETE");
	CHECK(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
	CHECK_INT(req.method, HTTP_METHOD_OTHER); /* methods are case-sensitive */

	/* Malformed. */
	CHECK_INT(parse("GET / HTTP/1.1\r\n\r\n", &req), -400); /* no Host */
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET /\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / http/1.1\r\nHost: a\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &req), -505);
	CHECK_INT(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &req), -505);
	CHECK_INT(parse("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET /\xc3\xa4 HTTP/1.1\r\nHost: a\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost a\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", &req), -400);
	CHECK_INT(http_request_parse("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30, &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", &req), -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
	                "Content-Length: 2\r\n\r\n",
	                &req),
	          -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n",
	                &req),
	          -400);
	CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &req),
	          -501);
	/* A TLS hello is refused at once, without waiting for a line end. */
	CHECK_INT(http_request_parse("\x16\x03\x01\x02\x00\x01\x00", 7, &req), -400);
	CHECK_INT(http_request_parse("GET /\x01", 6, &req), -400);
	CHECK_INT(http_request_parse("GET / HTTP/1.1\r", 15, &req), 0);

	/* Oversized: a head that does not end within the limit, a long target, many fields. */
	memset(big, 'a', sizeof(big));
	CHECK_INT(http_request_parse(big, HTTP_HEAD_MAX - 1, &req), 0);
	CHECK_INT(http_request_parse(big, HTTP_HEAD_MAX, &req), -431);
	CHECK_INT(http_request_parse(big, sizeof(big), &req), -431);
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'x', sizeof(big) - n);
	CHECK_INT(http_request_parse(big, sizeof(big), &req), -431);
	n = (size_t)snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'x', 2000);
	snprintf(big + n + 2000, sizeof(big) - n - 2000, " HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_INT(parse(big, &req), -414);
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: y\r\n", i);
	snprintf(big + n, sizeof(big) - n, "\r\n");
	CHECK_INT(parse(big, &req), -431);

	/* Garbage: random bytes never crash and never claim more than they were given. */
	for (int i = 0; i < 20000; i++) {
		int rv;

		n = (rng >> 4) % 200;
		for (size_t k = 0; k < n; k++) {
			rng = rng * 1103515245u + 12345u;
			big[k] = "GET /HTP1.\r\n: aHost"[(rng >> 16) % 20];
		}
		rng = rng * 1103515245u + 12345u;
		rv = http_request_parse(big, n, &req);
		CHECK(rv <= (int)n);
		CHECK(rv == 0 || rv > 0 || rv == -400 || rv == -505 || rv == -431);
	}
}

static void
test_http_range(void)
{
	uint64_t a = 7, b = 7;

	CHECK_INT(http_range_parse("bytes=0-99", 1000, &a, &b), 1);
	CHECK_INT(a, 0);
	CHECK_INT(b, 99);
	CHECK_INT(http_range_parse("bytes=500-", 1000, &a, &b), 1);
	CHECK_INT(a, 500);
	CHECK_INT(b, 999);
	CHECK_INT(http_range_parse("bytes=-100", 1000, &a, &b), 1);
	CHECK_INT(a, 900);
	CHECK_INT(b, 999);
	CHECK_INT(http_range_parse("bytes=-2000", 1000, &a, &b), 1);
	CHECK_INT(a, 0);
	CHECK_INT(http_range_parse("bytes=999-999", 1000, &a, &b), 1);
	CHECK_INT(a, 999);
	CHECK_INT(http_range_parse("Bytes=0-5000", 1000, &a, &b), 1);
	CHECK_INT(b, 999);
	CHECK_INT(http_range_parse("bytes=0-99999999999999999999999999", 1000, &a, &b), 1);
	CHECK_INT(b, 999);
	CHECK_INT(http_range_parse("bytes=1000-", 1000, &a, &b), -416);
	CHECK_INT(http_range_parse("bytes=1000-2000", 1000, &a, &b), -416);
	CHECK_INT(http_range_parse("bytes=99999999999999999999999-", 1000, &a, &b), -416);
	CHECK_INT(http_range_parse("bytes=-0", 1000, &a, &b), -416);
	CHECK_INT(http_range_parse("bytes=0-", 0, &a, &b), -416);
	/* Ignored: whole file. */
	CHECK_INT(http_range_parse("bytes=5-2", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("bytes=0-1,5-6", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("items=0-1", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("bytes=", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("bytes=-", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("bytes=a-b", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("bytes=1-2x", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("bytes= 1-2", 1000, &a, &b), 0);
	CHECK_INT(http_range_parse("", 1000, &a, &b), 0);
}

static void
test_clip_target(void)
{
	const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char t[256], name[CLIP_NAME_MAX];

	snprintf(t, sizeof(t), "/clips/%s.wav", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 1);
	CHECK(strncmp(name, hex, 64) == 0 && strcmp(name + 64, ".wav") == 0);
	CHECK_INT(http_clip_target(t, name, 10), 0);
	snprintf(t, sizeof(t), "/clips/%s.wav?x=1", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 0);
	snprintf(t, sizeof(t), "/clips/%s.WAV", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 0);
	snprintf(t, sizeof(t), "/clips/%.63sA.wav", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 0);
	snprintf(t, sizeof(t), "//clips/%s.wav", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 0);
	snprintf(t, sizeof(t), "http://10.0.0.2:8047/clips/%s.wav", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 1);
	snprintf(t, sizeof(t), "HTTP://a/clips/%s.wav", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 1);
	snprintf(t, sizeof(t), "http://a/b/clips/%s.wav", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 0);
	snprintf(t, sizeof(t), "https://a/clips/%s.wav", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 0);
	CHECK_INT(http_clip_target("http://a", name, sizeof(name)), 0);
	CHECK_INT(http_clip_target("http://a/../../etc/passwd", name, sizeof(name)), 0);
	snprintf(t, sizeof(t), "/clips/%s.wav/", hex);
	CHECK_INT(http_clip_target(t, name, sizeof(name)), 0);
	CHECK_INT(http_clip_target("/clips/../../etc/passwd", name, sizeof(name)), 0);
	CHECK_INT(http_clip_target("/clips/%2e%2e/%2e%2e/etc/passwd", name, sizeof(name)), 0);
	CHECK_INT(http_clip_target("/etc/passwd", name, sizeof(name)), 0);
	CHECK_INT(http_clip_target("/clips/", name, sizeof(name)), 0);
	CHECK_INT(http_clip_target("", name, sizeof(name)), 0);
	/* 64 characters that look like a name but walk up the tree. */
	CHECK_INT(
	    http_clip_target("/clips/../../../../../../../../../../../../../../../../../../../"
	                     "../../etc/pass.wav",
	                     name, sizeof(name)),
	    0);
}

static void
test_http_response(void)
{
	struct http_response r = {0};
	char buf[512];
	int n;

	r.status = 206;
	r.version = 11;
	r.keep_alive = 1;
	r.content_type = "audio/wav";
	r.content_length = 100;
	r.accept_ranges = 1;
	r.content_range = 1;
	r.first = 0;
	r.last = 99;
	r.total = 5000;
	r.date = 0;
	n = http_response_head(buf, sizeof(buf), &r);
	CHECK(n > 0);
	CHECK(strncmp(buf, "HTTP/1.1 206 Partial Content\r\n", 30) == 0);
	CHECK(strstr(buf, "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n") != NULL);
	CHECK(strstr(buf, "Content-Type: audio/wav\r\n") != NULL);
	CHECK(strstr(buf, "Content-Length: 100\r\n") != NULL);
	CHECK(strstr(buf, "Accept-Ranges: bytes\r\n") != NULL);
	CHECK(strstr(buf, "Content-Range: bytes 0-99/5000\r\n") != NULL);
	CHECK(strstr(buf, "Connection:") == NULL);
	CHECK(n >= 4 && strcmp(buf + n - 4, "\r\n\r\n") == 0);

	r.status = 416;
	r.keep_alive = 0;
	n = http_response_head(buf, sizeof(buf), &r);
	CHECK(strstr(buf, "Content-Range: bytes */5000\r\n") != NULL);
	CHECK(strstr(buf, "Connection: close\r\n") != NULL);
	r.version = 10;
	r.keep_alive = 1;
	r.status = 405;
	r.allow = "GET, HEAD";
	r.content_range = 0;
	n = http_response_head(buf, sizeof(buf), &r);
	CHECK(strstr(buf, "Connection: keep-alive\r\n") != NULL);
	CHECK(strstr(buf, "Allow: GET, HEAD\r\n") != NULL);
	CHECK_INT(http_response_head(buf, 40, &r), -1);
	CHECK_STR(http_reason(431), "Request Header Fields Too Large");
	CHECK_STR(http_reason(299), "Unknown");
}

int
main(void)
{
	test_sha256();
	test_clip();
	test_wav();
	test_http_request();
	test_http_range();
	test_clip_target();
	test_http_response();
	CHECK_DONE();
}
