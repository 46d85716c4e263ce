/* sdnotify.c -- systemd's notify protocol: datagrams to $NOTIFY_SOCKET (a path, or an abstract
 * name after '@'), as sd_notify(3) describes, without linking libsystemd. */
#include "sdnotify.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct {
	int fd; /* -1: disabled */
	struct sockaddr_un addr;
	socklen_t addrlen;
	uint64_t watchdog_ms;
	int ready_sent, stopping;
	int reloading;         /* RELOADING=1 sent, READY=1 not yet */
	uint64_t all_ready_ms; /* monotonic; 0 until the workers are first all ready */
	uint64_t pinged_ms;    /* last WATCHDOG=1 */
	char status[512];      /* last STATUS= sent */
} N = {.fd = -1};

/* WATCHDOG_USEC applies to us only if WATCHDOG_PID is unset or names this process. */
static uint64_t
watchdog_from_env(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (usec == NULL)
		return 0;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || end == usec || *end != '\0' || v == 0)
		return 0;
	return v / 1000 > 0 ? v / 1000 : 1;
}

int
sdnotify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;
	int rv = 0;

	sdnotify_close();
	memset(&N, 0, sizeof(N));
	N.fd = -1;
	N.watchdog_ms = watchdog_from_env();
	if (path == NULL || path[0] == '\0')
		goto out;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(N.addr.sun_path)) {
		log_warnx("NOTIFY_SOCKET '%s' is not a unix socket path; not notifying systemd",
		          path);
		rv = -1;
		goto out;
	}
	memset(&N.addr, 0, sizeof(N.addr));
	N.addr.sun_family = AF_UNIX;
	memcpy(N.addr.sun_path, path, n);
	if (path[0] == '@')
		N.addr.sun_path[0] = '\0'; /* abstract namespace: no terminator counted */
	N.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	if ((N.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		log_warn("NOTIFY_SOCKET: socket");
		rv = -1;
		goto out;
	}
	rv = 1;
	log_info("notifying the service manager at %s%s", path,
	         N.watchdog_ms ? " (watchdog on)" : "");
out:
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return rv;
}

int
sdnotify_enabled(void)
{
	return N.fd >= 0;
}

int
sdnotify_send(const char *state)
{
	if (N.fd < 0)
		return 0;
	if (sendto(N.fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&N.addr,
	           N.addrlen) < 0) {
		int e = errno;

		log_debug("NOTIFY_SOCKET: %s", strerror(e));
		return -e;
	}
	return 0;
}

uint64_t
sdnotify_watchdog_ms(void)
{
	return N.watchdog_ms;
}

int
sdnotify_watchdog_due(uint64_t now_ms, uint64_t all_ready_ms, uint64_t watchdog_ms)
{
	uint64_t grace =
	    2 * watchdog_ms > SDNOTIFY_UNREADY_MAX_MS ? 2 * watchdog_ms : SDNOTIFY_UNREADY_MAX_MS;

	if (watchdog_ms == 0 || all_ready_ms == 0)
		return 0;
	return now_ms - all_ready_ms <= grace;
}

/* One datagram: "READY=1\n" etc. followed by STATUS= when the status line changed. */
static void
notify(const char *what, const char *status)
{
	char buf[640];
	int changed = status != NULL && strcmp(status, N.status) != 0;

	if (what[0] == '\0' && !changed)
		return;
	snprintf(buf, sizeof(buf), "%s%s%s", what, changed ? "STATUS=" : "", changed ? status : "");
	if (changed)
		msg_strlcpy(N.status, status, sizeof(N.status));
	sdnotify_send(buf);
}

void
sdnotify_update(uint64_t now_ms, int all_ready, const char *status)
{
	const char *what = "";

	if (N.fd < 0 || N.stopping)
		return;
	if (all_ready)
		N.all_ready_ms = now_ms;
	if (all_ready && !N.ready_sent) {
		N.ready_sent = 1;
		what = "READY=1\n";
		log_info("all workers ready; told the service manager");
	} else if (N.ready_sent && sdnotify_watchdog_due(now_ms, N.all_ready_ms, N.watchdog_ms) &&
	           now_ms - N.pinged_ms >= N.watchdog_ms / 4) {
		N.pinged_ms = now_ms;
		what = "WATCHDOG=1\n";
	}
	notify(what, status);
}

void
sdnotify_reloading(uint64_t now_us, const char *status)
{
	char what[64];

	if (N.fd < 0 || N.stopping || !N.ready_sent)
		return;
	N.reloading = 1;
	snprintf(what, sizeof(what), "RELOADING=1\nMONOTONIC_USEC=%llu\n",
	         (unsigned long long)now_us);
	notify(what, status);
}

void
sdnotify_reload_done(const char *status)
{
	if (N.fd < 0 || N.stopping || !N.reloading)
		return;
	N.reloading = 0;
	notify("READY=1\n", status);
}

void
sdnotify_stopping(const char *status)
{
	if (N.fd < 0 || N.stopping)
		return;
	N.stopping = 1;
	notify("STOPPING=1\n", status);
}

void
sdnotify_close(void)
{
	if (N.fd >= 0)
		close(N.fd);
	N.fd = -1;
}
