/* test_http_client.c -- HTTP response parser cases and live requests against a loopback server. */
#include "check.h"
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static enum http_parse_result
parse_str(const char *s, int eof, size_t max_body, struct http_response *r)
{
	return http_response_parse(s, strlen(s), eof, max_body, r);
}

static void
test_content_length(void)
{
	const char *s = "HTTP/1.1 200 OK\r\n"
	                "CONTENT-TYPE: text/xml; charset=\"utf-8\"\r\n"
	                "content-length: 5\r\n"
	                "Server: Linux UPnP/1.0 Sonos/57.4-83220 (ZPS9)\r\n"
	                "\r\n"
	                "hello";
	struct http_response r;

	CHECK_INT(parse_str(s, 0, 1024, &r), HTTP_PARSE_DONE);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.content_type, "text/xml; charset=\"utf-8\"");
	CHECK_INT(r.body_len, 5);
	CHECK_STR(r.body, "hello");
	http_response_free(&r);

	/* Every split point: incomplete until the last byte, then done. */
	for (size_t i = 0; i < strlen(s); i++) {
		CHECK_INT(http_response_parse(s, i, 0, 1024, &r), HTTP_PARSE_INCOMPLETE);
		CHECK(r.body == NULL);
	}
	/* Truncated by the peer: malformed once eof is known. */
	CHECK_INT(http_response_parse(s, strlen(s) - 1, 1, 1024, &r), HTTP_PARSE_MALFORMED);

	/* Over the body limit: refused as soon as the header says so. */
	CHECK_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nxx", 0, 1024, &r),
	          HTTP_PARSE_MALFORMED);
	/* Conflicting lengths and junk lengths. */
	CHECK_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
	                    0, 1024, &r),
	          HTTP_PARSE_MALFORMED);
	CHECK_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, 1024, &r),
	          HTTP_PARSE_MALFORMED);
	CHECK_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0,
	                    1024, &r),
	          HTTP_PARSE_MALFORMED);
	/* A SOAP fault: status 500 with a body is a complete response, not an error. */
	CHECK_INT(parse_str("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nab", 0,
	                    1024, &r),
	          HTTP_PARSE_DONE);
	CHECK_INT(r.status, 500);
	CHECK_STR(r.content_type, "");
	http_response_free(&r);
	/* Bare LF line ends are tolerated; 100 Continue is skipped. */
	CHECK_INT(parse_str("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\nContent-Length: "
	                    "0\n\n",
	                    0, 1024, &r),
	          HTTP_PARSE_DONE);
	CHECK_INT(r.status, 404);
	CHECK_INT(r.body_len, 0);
	CHECK_STR(r.body, "");
	http_response_free(&r);
}

static void
test_chunked(void)
{
	const char *s = "HTTP/1.1 200 OK\r\n"
	                "Transfer-Encoding: Chunked\r\n"
	                "\r\n"
	                "4;name=value\r\nWiki\r\n"
	                "5 \r\npedia\r\n"
	                "E\r\n in\r\n\r\nchunks.\r\n"
	                "0\r\n"
	                "X-Trailer: 1\r\n"
	                "\r\n";
	struct http_response r;

	CHECK_INT(parse_str(s, 0, 1024, &r), HTTP_PARSE_DONE);
	CHECK_INT(r.body_len, 23);
	CHECK_STR(r.body, "Wikipedia in\r\n\r\nchunks.");
	http_response_free(&r);
	for (size_t i = 0; i < strlen(s); i++) {
		CHECK_INT(http_response_parse(s, i, 0, 1024, &r), HTTP_PARSE_INCOMPLETE);
		CHECK(r.body == NULL);
	}
	/* The body limit counts decoded bytes across chunks. */
	CHECK_INT(parse_str(s, 0, 22, &r), HTTP_PARSE_MALFORMED);
	CHECK_INT(parse_str(s, 0, 23, &r), HTTP_PARSE_DONE);
	http_response_free(&r);
	CHECK_INT(
	    parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 1024, &r),
	    HTTP_PARSE_MALFORMED);
	CHECK_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                    "ffffffffffffffffffffff\r\n",
	                    0, 1024, &r),
	          HTTP_PARSE_MALFORMED);
	CHECK_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 0,
	                    1024, &r),
	          HTTP_PARSE_MALFORMED);
	/* Chunked wins over Content-Length. */
	CHECK_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: "
	                    "chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
	                    0, 1024, &r),
	          HTTP_PARSE_DONE);
	CHECK_STR(r.body, "ab");
	http_response_free(&r);
}

static void
test_close_delimited(void)
{
	const char *s = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close";
	struct http_response r;

	CHECK_INT(parse_str(s, 0, 1024, &r), HTTP_PARSE_INCOMPLETE);
	CHECK_INT(parse_str(s, 1, 1024, &r), HTTP_PARSE_DONE);
	CHECK_STR(r.body, "until close");
	CHECK_STR(r.content_type, "text/plain");
	http_response_free(&r);
	CHECK_INT(parse_str(s, 1, 5, &r), HTTP_PARSE_MALFORMED);
}

static void
test_garbage(void)
{
	const char *bad[] = {
	    "SSH-2.0-OpenSSH_9.2\r\n",
	    "HTTP/2 200\r\n\r\n",
	    "HTTP/1.1 20 OK\r\n\r\n",
	    "HTTP/1.1 abc OK\r\n\r\n",
	    "\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
	    "<html>not http</html>",
	};
	struct http_response r;
	char *big;
	unsigned seed = 12345;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(parse_str(bad[i], 1, 1024, &r), HTTP_PARSE_MALFORMED);
		CHECK(r.body == NULL);
	}
	/* Missing status line: headers first. */
	CHECK_INT(parse_str("Content-Length: 0\r\n\r\n", 0, 1024, &r), HTTP_PARSE_MALFORMED);
	/* Empty input is incomplete, or malformed at eof. */
	CHECK_INT(http_response_parse("", 0, 0, 1024, &r), HTTP_PARSE_INCOMPLETE);
	CHECK_INT(http_response_parse("", 0, 1, 1024, &r), HTTP_PARSE_MALFORMED);

	/* A header block that never ends is refused at the limit, not buffered forever. */
	big = malloc(40000);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', 40000 - 20);
	CHECK_INT(http_response_parse(big, 40000, 0, 1024, &r), HTTP_PARSE_MALFORMED);
	CHECK_INT(http_response_parse(big, 1000, 0, 1024, &r), HTTP_PARSE_INCOMPLETE);
	/* Random bytes after a valid prefix must never crash (run under ASan in CI). */
	for (int round = 0; round < 2000; round++) {
		size_t n = 20 + (size_t)(rand_r(&seed) % 300);

		memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
		for (size_t i = 17; i < n; i++)
			big[i] = "\r\n:;0123456789abcdefTransfer-Encoding chunked Content-Length"
			    [rand_r(&seed) % 60];
		if (http_response_parse(big, n, round & 1, 64, &r) == HTTP_PARSE_DONE) {
			CHECK(r.body_len <= 64);
			http_response_free(&r);
		}
	}
	free(big);
}

static void
test_url_split(void)
{
	char host[64], path[128];
	uint16_t port;

	CHECK_INT(http_url_split("http://192.168.1.20:1400/xml/device_description.xml", host,
	                         sizeof(host), &port, path, sizeof(path)),
	          0);
	CHECK_STR(host, "192.168.1.20");
	CHECK_INT(port, 1400);
	CHECK_STR(path, "/xml/device_description.xml");
	CHECK_INT(http_url_split("http://example", host, sizeof(host), &port, path, sizeof(path)),
	          0);
	CHECK_INT(port, 80);
	CHECK_STR(path, "/");
	CHECK_INT(
	    http_url_split("HTTP://[::1]:8080/a?b", host, sizeof(host), &port, path, sizeof(path)),
	    0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 8080);
	CHECK_STR(path, "/a?b");
	CHECK_INT(http_url_split("https://a/", host, sizeof(host), &port, path, sizeof(path)), -1);
	CHECK_INT(http_url_split("http://a:0/", host, sizeof(host), &port, path, sizeof(path)), -1);
	CHECK_INT(http_url_split("http://a:65536/", host, sizeof(host), &port, path, sizeof(path)),
	          -1);
	CHECK_INT(http_url_split("http://a:14x0/", host, sizeof(host), &port, path, sizeof(path)),
	          -1);
	CHECK_INT(http_url_split("http:///x", host, sizeof(host), &port, path, sizeof(path)), -1);
	CHECK_INT(http_url_split("http://u@evil/x", host, sizeof(host), &port, path, sizeof(path)),
	          -1);
	CHECK_INT(http_url_split("http://a/x y", host, sizeof(host), &port, path, sizeof(path)),
	          -1);
	CHECK_INT(
	    http_url_split("http://a/x\r\nHost: b", host, sizeof(host), &port, path, sizeof(path)),
	    -1);
	CHECK_INT(
	    http_url_split("http://aaaaaaaaaaaaaaaaaaaa/", host, 8, &port, path, sizeof(path)), -1);
}

/* A one-connection-at-a-time server on 127.0.0.1 for the live tests. */
enum server_mode { SERVE_NORMAL, SERVE_SILENT };

struct server {
	int fd;
	uint16_t port;
	enum server_mode mode;
	int connections;
	char request[2048];
};

static void *
server_main(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	size_t len = 0;

	if (c < 0)
		return NULL;
	s->connections++;
	if (s->mode == SERVE_SILENT) {
		/* Hold the connection open without a byte until the client gives up. */
		char b;

		while (recv(c, &b, 1, 0) > 0)
			;
		close(c);
		return NULL;
	}
	/* Read the head and a 4-byte body ("ping"). */
	while (len < sizeof(s->request) - 1) {
		ssize_t n = recv(c, s->request + len, sizeof(s->request) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
		s->request[len] = '\0';
		if (strstr(s->request, "\r\n\r\nping") != NULL)
			break;
	}
	{
		const char *reply = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
		                    "Transfer-Encoding: chunked\r\n\r\n"
		                    "3\r\n<a>\r\n4\r\n</a>\r\n0\r\n\r\n";

		send(c, reply, strlen(reply), MSG_NOSIGNAL);
	}
	close(c);
	return NULL;
}

static int
server_open(struct server *s, enum server_mode mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->fd, 4) < 0 || getsockname(s->fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return 0;
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_live(void)
{
	const char *headers[] = {"Content-Type: text/xml; charset=\"utf-8\"",
	                         "SOAPACTION: \"urn:schemas-upnp-org:service:AVTransport:1#Play\"",
	                         NULL};
	const char *injected[] = {"X: a\r\nEvil: b", NULL};
	struct http_response r;
	struct server s;
	pthread_t t;
	long long t0, elapsed;
	int rv;

	/* A normal exchange: request head as sent, chunked reply decoded. */
	CHECK_INT(server_open(&s, SERVE_NORMAL), 0);
	pthread_create(&t, NULL, server_main, &s);
	rv = http_request("POST", "127.0.0.1", s.port, "/MediaRenderer/AVTransport/Control",
	                  headers, "ping", 4, 2000, 1024, &r);
	pthread_join(t, NULL);
	CHECK_INT(rv, 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body, "<a></a>");
	CHECK_STR(r.content_type, "text/xml");
	CHECK(strncmp(s.request, "POST /MediaRenderer/AVTransport/Control HTTP/1.1\r\n", 50) == 0);
	CHECK(strstr(s.request, "\r\nHost: 127.0.0.1:") != NULL);
	CHECK(strstr(s.request, "\r\nConnection: close\r\n") != NULL);
	CHECK(strstr(s.request, "\r\nContent-Length: 4\r\n") != NULL);
	CHECK(strstr(s.request, "\r\nSOAPACTION: \"urn:schemas-upnp-org:service:AVTransport:1#"
	                        "Play\"\r\n") != NULL);
	http_response_free(&r);

	/* Header injection is refused before anything is sent. */
	CHECK_INT(http_request("GET", "127.0.0.1", s.port, "/", injected, NULL, 0, 300, 1024, &r),
	          -EINVAL);
	CHECK_INT(http_request("GET", "127.0.0.1", s.port, "/a b", NULL, NULL, 0, 300, 1024, &r),
	          -EINVAL);
	CHECK_INT(http_request("GET", "speaker.lan", s.port, "/", NULL, NULL, 0, 300, 1024, &r),
	          -EHOSTUNREACH);
	close(s.fd);

	/* A server that accepts and never answers: the whole exchange stops at the timeout. */
	CHECK_INT(server_open(&s, SERVE_SILENT), 0);
	pthread_create(&t, NULL, server_main, &s);
	t0 = mono_ms();
	rv = http_request("GET", "127.0.0.1", s.port, "/xml/device_description.xml", NULL, NULL, 0,
	                  300, 1024, &r);
	elapsed = mono_ms() - t0;
	CHECK_INT(rv, -ETIMEDOUT);
	CHECK(elapsed >= 290 && elapsed < 600);
	CHECK(r.body == NULL);
	pthread_join(t, NULL); /* the client's close ends the server's read */
	CHECK_INT(s.connections, 1);

	/* A listener that never accepts: connect completes in the backlog, still a timeout. */
	t0 = mono_ms();
	rv = http_request("GET", "127.0.0.1", s.port, "/", NULL, NULL, 0, 300, 1024, &r);
	elapsed = mono_ms() - t0;
	CHECK_INT(rv, -ETIMEDOUT);
	CHECK(elapsed >= 290 && elapsed < 600);

	/* A port with no listener: refused at once. */
	close(s.fd);
	t0 = mono_ms();
	CHECK_INT(http_request("GET", "127.0.0.1", s.port, "/", NULL, NULL, 0, 300, 1024, &r),
	          -ECONNREFUSED);
	CHECK(mono_ms() - t0 < 200);
}

int
main(void)
{
	test_content_length();
	test_chunked();
	test_close_delimited();
	test_garbage();
	test_url_split();
	test_live();
	CHECK_DONE();
}
