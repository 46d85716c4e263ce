/* cli.c -- the user verbs that talk to a running bridge over its status socket. */
#include "cli.h"
#include "report.h"
#include "strbuf.h"
#include "supervise.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CLI_TIMEOUT_S 3
#define CLI_DOC_MAX (4 << 20)

/* Read the whole status document. Returns 0, or -1 with the reason in err. */
static int
status_fetch(const char *rundir, struct strbuf *doc, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = CLI_TIMEOUT_S};
	char buf[8192];
	ssize_t n;
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", rundir, STATUS_SOCKET) >=
	    (int)sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s/%s: path too long", rundir, STATUS_SOCKET);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "the bridge is not running (%s: %s)", sa.sun_path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	doc->max = CLI_DOC_MAX;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_append(doc, buf, (size_t)n);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", sa.sun_path,
			 errno == EAGAIN ? "no answer within 3 s" : strerror(errno));
		return -1;
	}
	if (doc->failed || doc->s == NULL) {
		snprintf(err, errlen, "%s: %s", sa.sun_path,
			 doc->failed ? "answer too large" : "empty answer");
		return -1;
	}
	return 0;
}

int
cli_status(const struct config *cfg, int json)
{
	struct strbuf doc = STRBUF_INIT, table = STRBUF_INIT;
	char err[512];
	int rv = 0;

	if (status_fetch(cfg->runtime_dir, &doc, err, sizeof(err)) < 0) {
		fprintf(stderr, "sonos-bridge status: %s\n", err);
		return 1;
	}
	if (json) {
		fwrite(doc.s, 1, doc.len, stdout);
		fputc('\n', stdout);
	} else if (report_table(doc.s, doc.len, &table) == 0) {
		fwrite(table.s, 1, table.len, stdout);
	} else {
		fprintf(stderr, "sonos-bridge status: the answer is not a status document\n");
		rv = 1;
	}
	strbuf_free(&doc);
	strbuf_free(&table);
	return rv;
}

int
cli_healthcheck(const struct config *cfg)
{
	struct strbuf doc = STRBUF_INIT;
	char err[512], why[512];
	int rv;

	if (status_fetch(cfg->runtime_dir, &doc, err, sizeof(err)) < 0) {
		printf("unhealthy: %s\n", err);
		return 1;
	}
	rv = report_verdict(doc.s, doc.len, why, sizeof(why));
	printf("%s%s\n", rv == 0 ? "" : "unhealthy: ", why);
	strbuf_free(&doc);
	return rv;
}
