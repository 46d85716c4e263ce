/* test_httpd_bus.c -- drives a real sonos-bridge-httpd: clip requests over the bus, then the
 * clips over HTTP (full, HEAD, ranges, keep-alive, refusals), then SIGTERM. Bounded by alarm. */
#define _GNU_SOURCE /* nftw */
#include "bus.h"
#include "check.h"
#include "clip.h"
#include "msg.h"
#include "wav.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/protocol/reqrep0/req.h>

static char dir[64];
static int port;
static pid_t httpd_pid;

/* Wait up to ms for pid to exit. Returns its wait status, or -1 if it is still running. */
static int
wait_exit(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i < ms / 50; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(50000);
	}
	return -1;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), p;

	bind(s, (struct sockaddr *)&a, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &len);
	p = ntohs(a.sin_port);
	close(s);
	return p;
}

/* Start httpd on http_port; returns its pid. */
static pid_t
start_httpd(int http_port, const char *logname)
{
	char exe[PATH_MAX], bin[PATH_MAX + 32], state[128], run[128], portstr[16], logf[128];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *bindir = getenv("SB_BIN_DIR");
	pid_t pid;

	if (n < 0)
		exit(2);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(bin, sizeof(bin), "%s/sonos-bridge-httpd", bindir ? bindir : exe);
	if (bindir == NULL)
		snprintf(bin, sizeof(bin), "%s/../bin/sonos-bridge-httpd", exe);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(run, sizeof(run), "%s/run", dir);
	snprintf(logf, sizeof(logf), "%s/%s", dir, logname);
	snprintf(portstr, sizeof(portstr), "%d", http_port);
	if ((pid = fork()) == 0) {
		int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		execl(bin, bin, "--config", "/dev/null", "--state_dir", state, "--runtime_dir", run,
		      "--http_bind", "127.0.0.1", "--http_port", portstr, "--log_level", "debug",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
clip_call_ms(nng_socket req, const char *voice, const char *text, size_t len,
             struct msg_clip_reply *reply, double *took, int timeout_ms)
{
	char buf[sizeof(struct msg_clip_request) + 512];
	struct msg_clip_request *r = (struct msg_clip_request *)buf;
	double t0 = now_ms();
	int rv;

	memset(r, 0, sizeof(*r));
	msg_strlcpy(r->voice, voice, sizeof(r->voice));
	r->text_len = (uint32_t)len;
	memcpy(r->text, text, len);
	memset(reply, 0, sizeof(*reply));
	rv = bus_call(req, MSG_CLIP_REQUEST, r, sizeof(*r) + len, MSG_CLIP_REPLY, reply,
	              sizeof(*reply), timeout_ms);
	if (took != NULL)
		*took = now_ms() - t0;
	return rv;
}

static int
clip_call(nng_socket req, const char *voice, const char *text, size_t len,
          struct msg_clip_reply *reply, double *took)
{
	return clip_call_ms(req, voice, text, len, reply, took, 20000);
}

/* Send a request, read until the server closes or 5 s pass. Returns bytes read. */
static size_t
http_exchange(const char *request, size_t len, char *out, size_t size)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM, 0);
	double deadline = now_ms() + 5000;
	size_t got = 0;

	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(s, request, len) != (ssize_t)len) {
		close(s);
		return 0;
	}
	while (got < size && now_ms() < deadline) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((n = read(s, out + got, size - got)) <= 0)
			break;
		got += (size_t)n;
	}
	close(s);
	return got;
}

static int
status_of(const char *resp)
{
	return strncmp(resp, "HTTP/1.1 ", 9) == 0 ? atoi(resp + 9) : -1;
}

/* Value of a header field in a response head, as a number; -1 when absent. */
static long long
field_num(const char *resp, const char *name)
{
	const char *p = strstr(resp, name);

	return p == NULL ? -1 : atoll(p + strlen(name));
}

static const char *
body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p == NULL ? NULL : p + 4;
}

static void
test_bus(nng_socket req, struct msg_clip_reply *clip)
{
	const char *text = "Someone is at the front door.";
	char name[CLIP_NAME_MAX];
	struct msg_clip_reply r;
	double first, cached;

	CHECK_INT(clip_call(req, "", text, strlen(text), clip, &first), 0);
	CHECK_INT(clip->status, 0);
	clip_name("en", text, strlen(text), name);
	CHECK_STR(clip->name, name);
	CHECK_STR(clip->mime, "audio/wav");
	CHECK(clip->duration_ms > 800 && clip->duration_ms < 10000);
	CHECK(clip->bytes > 44 + clip->duration_ms * 44);
	CHECK_INT(clip_call(req, "en", text, strlen(text), &r, &cached), 0);
	CHECK_INT(r.status, 0);
	CHECK_STR(r.name, clip->name);
	CHECK_INT(r.duration_ms, clip->duration_ms);
	fprintf(stderr, "one sentence (%u ms of audio): first %.1f ms, cached %.1f ms\n",
	        clip->duration_ms, first, cached);

	CHECK_INT(clip_call(req, "de", "Guten Tag", 9, &r, NULL), 0);
	CHECK_INT(r.status, 0);
	CHECK(strcmp(r.name, clip->name) != 0);

	CHECK_INT(clip_call(req, "xx-nonexistent", "Hello", 5, &r, NULL), 0);
	CHECK(r.status < 0);
	CHECK(strstr(r.error, "voice") != NULL);
	CHECK_INT(clip_call(req, "../../etc", "Hello", 5, &r, NULL), 0);
	CHECK(r.status < 0);
	CHECK_INT(clip_call(req, "", "", 0, &r, NULL), 0);
	CHECK(r.status < 0 && strstr(r.error, "empty") != NULL);
	CHECK_INT(clip_call(req, "", "bad \xff byte", 10, &r, NULL), 0);
	CHECK(r.status < 0 && strstr(r.error, "UTF-8") != NULL);
	/* Still serving after the refusals. */
	CHECK_INT(clip_call(req, "", text, strlen(text), &r, NULL), 0);
	CHECK_INT(r.status, 0);
}

/* playerd asks for clips from one thread per group, over one socket: replies to requests
 * that arrive back to back must all go out (one used to be dropped now and then with "reply
 * not sent: Try again", leaving a room waiting 60 s for speech that was ready). */
#define CONCURRENT_THREADS 8
#define CONCURRENT_CALLS 50

struct concurrent {
	nng_socket req;
	int failed, slowest_ms;
};

static void *
concurrent_run(void *arg)
{
	struct concurrent *c = arg;
	const char *text = "Someone is at the front door.";
	struct msg_clip_reply r;
	double took;

	for (int i = 0; i < CONCURRENT_CALLS; i++) {
		int rv = clip_call_ms(c->req, "", text, strlen(text), &r, &took, 5000);

		if (rv != 0 || r.status != 0)
			c->failed++;
		if ((int)took > c->slowest_ms)
			c->slowest_ms = (int)took;
	}
	return NULL;
}

static void
test_concurrent(nng_socket req)
{
	struct concurrent c[CONCURRENT_THREADS];
	pthread_t t[CONCURRENT_THREADS];
	int failed = 0, slowest = 0;

	for (int i = 0; i < CONCURRENT_THREADS; i++) {
		c[i] = (struct concurrent){.req = req};
		CHECK_INT(pthread_create(&t[i], NULL, concurrent_run, &c[i]), 0);
	}
	for (int i = 0; i < CONCURRENT_THREADS; i++) {
		pthread_join(t[i], NULL);
		failed += c[i].failed;
		if (c[i].slowest_ms > slowest)
			slowest = c[i].slowest_ms;
	}
	fprintf(stderr, "%d concurrent cached clip requests: %d unanswered, slowest %d ms\n",
	        CONCURRENT_THREADS * CONCURRENT_CALLS, failed, slowest);
	CHECK_INT(failed, 0);
}

/* What httpd told playerd's inbox (inbox): a clip was asked for, from 127.0.0.1. */
static void
check_fetched(nng_socket inbox, const char *name)
{
	const struct msg_hdr *h;
	const void *p;
	char err[160];
	nng_msg *m;

	nng_socket_set_ms(inbox, NNG_OPT_RECVTIMEO, 3000);
	CHECK_INT(nng_recvmsg(inbox, &m, 0), 0);
	if (m == NULL)
		return;
	CHECK_INT(msg_check(nng_msg_body(m), nng_msg_len(m), &h, &p, err, sizeof(err)), 0);
	CHECK_INT(h->type, MSG_CLIP_FETCHED);
	if (h->type == MSG_CLIP_FETCHED) {
		CHECK_STR(((const struct msg_clip_fetched *)p)->name, name);
		CHECK_STR(((const struct msg_clip_fetched *)p)->peer, "127.0.0.1");
	}
	nng_msg_free(m);
}

static void
test_http(const struct msg_clip_reply *clip, nng_socket inbox)
{
	static char resp[1 << 20];
	char req[512];
	struct wav_info wi;
	char err[160];
	const char *body;
	size_t n;
	int len;

	len =
	    snprintf(req, sizeof(req),
	             "GET /clips/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", clip->name);
	n = http_exchange(req, (size_t)len, resp, sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 200);
	check_fetched(inbox, clip->name); /* the speaker got it: playerd hears so */
	CHECK(strstr(resp, "Content-Type: audio/wav\r\n") != NULL);
	CHECK(strstr(resp, "Accept-Ranges: bytes\r\n") != NULL);
	CHECK_INT(field_num(resp, "Content-Length: "), clip->bytes);
	body = body_of(resp);
	CHECK(body != NULL && n - (size_t)(body - resp) == clip->bytes);
	if (body != NULL) {
		CHECK_INT(wav_header_parse(body, n - (size_t)(body - resp), clip->bytes, &wi, err,
		                           sizeof(err)),
		          0);
		CHECK_INT(wi.duration_ms, clip->duration_ms);
		CHECK_INT(wi.sample_rate, 22050);
	}

	len =
	    snprintf(req, sizeof(req),
	             "HEAD /clips/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", clip->name);
	n = http_exchange(req, (size_t)len, resp, sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 200);
	CHECK_INT(field_num(resp, "Content-Length: "), clip->bytes);
	CHECK(body_of(resp) != NULL && *body_of(resp) == '\0');

	len = snprintf(req, sizeof(req),
	               "GET /clips/%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-43\r\n"
	               "Connection: close\r\n\r\n",
	               clip->name);
	n = http_exchange(req, (size_t)len, resp, sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 206);
	snprintf(err, sizeof(err), "Content-Range: bytes 0-43/%u\r\n", clip->bytes);
	CHECK(strstr(resp, err) != NULL);
	CHECK_INT(field_num(resp, "Content-Length: "), 44);
	CHECK(body_of(resp) != NULL && strncmp(body_of(resp), "RIFF", 4) == 0);

	len = snprintf(req, sizeof(req),
	               "GET /clips/%s HTTP/1.1\r\nHost: x\r\nRange: bytes=%u-\r\n"
	               "Connection: close\r\n\r\n",
	               clip->name, clip->bytes);
	n = http_exchange(req, (size_t)len, resp, sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 416);
	snprintf(err, sizeof(err), "Content-Range: bytes */%u\r\n", clip->bytes);
	CHECK(strstr(resp, err) != NULL);

	/* Keep-alive: two pipelined requests, answered in order on one connection. */
	len = snprintf(req, sizeof(req),
	               "GET /clips/%s HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\n\r\n"
	               "HEAD /clips/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	               clip->name, clip->name);
	n = http_exchange(req, (size_t)len, resp, sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 206);
	CHECK_INT(field_num(resp, "Content-Length: "), 10);
	body = body_of(resp);
	CHECK(body != NULL && status_of(body + 10) == 200);

	n = http_exchange("GET /clips/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 50, resp,
	                  sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 404);
	n = http_exchange("DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 49, resp,
	                  sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 405);
	n = http_exchange("\x16\x03\x01garbage", 10, resp, sizeof(resp) - 1);
	resp[n] = '\0';
	CHECK_INT(status_of(resp), 400);
	{
		static char big[10000];

		memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
		memset(big + 19, 'x', sizeof(big) - 19);
		n = http_exchange(big, sizeof(big), resp, sizeof(resp) - 1);
		resp[n] = '\0';
		CHECK_INT(status_of(resp), 431);
	}
}

/* A second httpd on the same runtime directory must leave without touching the bus socket,
 * and the first must still accept new bus connections afterwards (nng 1.5.2 issue #1518). */
static void
test_second_instance(void)
{
	struct msg_clip_reply r;
	char run[96];
	nng_socket req;
	pid_t second = start_httpd(free_port(), "second.log");
	int status = wait_exit(second, 5000);

	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1);
	if (status == -1)
		kill(second, SIGKILL), waitpid(second, &status, 0);
	snprintf(run, sizeof(run), "%s/run", dir);
	CHECK_INT(bus_dial(&req, nng_req0_open, run, "httpd", "rep"), 0);
	CHECK_INT(clip_call(req, "", "Still here.", 11, &r, NULL), 0);
	CHECK_INT(r.status, 0);
	nng_close(req);
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
show_log(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "cat %s/httpd.log >&2", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "no httpd log\n");
}

int
main(void)
{
	struct msg_clip_reply clip;
	char run[96];
	nng_socket req, inbox;
	int status = -1;

	alarm(90); /* the whole test, whatever hangs */
	snprintf(dir, sizeof(dir), "/tmp/sb-httpd-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 2;
	port = free_port();
	snprintf(run, sizeof(run), "%s/run", dir);
	if (mkdir(run, 0700) < 0 && errno != EEXIST)
		return 2;
	CHECK_INT(bus_inbox_listen(&inbox, run, "playerd"), 0); /* as playerd */
	httpd_pid = start_httpd(port, "httpd.log");
	CHECK_INT(bus_dial(&req, nng_req0_open, run, "httpd", "rep"), 0);
	test_bus(req, &clip);
	test_concurrent(req);
	if (clip.status == 0)
		test_http(&clip, inbox);
	nng_close(req);
	nng_close(inbox);
	test_second_instance();

	kill(httpd_pid, SIGTERM);
	status = wait_exit(httpd_pid, 5000);
	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (status == -1)
		kill(httpd_pid, SIGKILL);
	if (check_failures)
		show_log();
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	CHECK_DONE();
}
