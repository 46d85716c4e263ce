/* status.c -- the status socket: a unix stream socket that writes the status JSON to each
 * client and closes. Plain AF_UNIX rather than nng, so `socat - UNIX:...` and any language can
 * read it without a library. */
#include "status.h"
#include "log.h"
#include "supervise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct status_client {
	uv_pipe_t pipe;
	uv_write_t write;
	char *doc;
};

static struct {
	uv_pipe_t server;
	int open;
	char path[256];
	char *(*make)(void);
} S;

static void
client_close_cb(uv_handle_t *h)
{
	struct status_client *c = h->data;

	free(c->doc);
	free(c);
}

static void
client_write_cb(uv_write_t *req, int status)
{
	struct status_client *c = req->data;

	if (status < 0)
		log_debug("status client: %s", uv_strerror(status));
	uv_close((uv_handle_t *)&c->pipe, client_close_cb);
}

static void
status_connection_cb(uv_stream_t *server, int status)
{
	struct status_client *c;
	uv_buf_t buf;
	int rv;

	if (status < 0) {
		log_warnx("status socket: %s", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("status socket: out of memory");
		return;
	}
	uv_pipe_init(server->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->write.data = c;
	if ((rv = uv_accept(server, (uv_stream_t *)&c->pipe)) != 0) {
		log_warnx("status socket: accept: %s", uv_strerror(rv));
		uv_close((uv_handle_t *)&c->pipe, client_close_cb);
		return;
	}
	if ((c->doc = S.make()) == NULL) {
		log_warnx("status socket: cannot build the document");
		uv_close((uv_handle_t *)&c->pipe, client_close_cb);
		return;
	}
	/* One document, then EOF: the client reads to the end. */
	buf = uv_buf_init(c->doc, (unsigned)strlen(c->doc));
	if ((rv = uv_write(&c->write, (uv_stream_t *)&c->pipe, &buf, 1, client_write_cb)) != 0) {
		log_debug("status client: %s", uv_strerror(rv));
		uv_close((uv_handle_t *)&c->pipe, client_close_cb);
	}
}

int
status_listen(uv_loop_t *loop, const char *rundir, char *(*make)(void))
{
	mode_t old;
	int n, rv;

	n = snprintf(S.path, sizeof(S.path), "%s/%s", rundir, STATUS_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(S.path)) {
		log_errorx("%s/%s: path too long", rundir, STATUS_SOCKET);
		return -1;
	}
	S.make = make;
	/* We hold the runtime directory's lock: a socket file left here is a dead bridge's. */
	unlink(S.path);
	uv_pipe_init(loop, &S.server, 0);
	S.open = 1;
	old = umask(0177);
	rv = uv_pipe_bind(&S.server, S.path);
	umask(old);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&S.server, 16, status_connection_cb);
	if (rv != 0) {
		log_errorx("%s: %s", S.path, uv_strerror(rv));
		return -1;
	}
	chmod(S.path, 0600);
	return 0;
}

void
status_close(void)
{
	if (!S.open)
		return;
	S.open = 0;
	uv_close((uv_handle_t *)&S.server, NULL);
	unlink(S.path);
}
