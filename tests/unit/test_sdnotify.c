/* test_sdnotify.c -- the supervisor's systemd notifications: the watchdog rule, and the
 * datagrams a service manager listening on NOTIFY_SOCKET receives (path and abstract name). */
#include "check.h"
#include "sdnotify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void
test_watchdog_rule(void)
{
	/* No watchdog asked for, or never ready: no pings. */
	CHECK_INT(sdnotify_watchdog_due(5000, 4000, 0), 0);
	CHECK_INT(sdnotify_watchdog_due(5000, 0, 30000), 0);
	/* Ready now or lately: ping. */
	CHECK_INT(sdnotify_watchdog_due(5000, 5000, 30000), 1);
	CHECK_INT(sdnotify_watchdog_due(64000, 4000, 30000), 1);
	/* Not all ready for longer than twice the interval: stop pinging. */
	CHECK_INT(sdnotify_watchdog_due(64001, 4000, 30000), 0);
	/* A short interval still allows SDNOTIFY_UNREADY_MAX_MS for a worker's restart. */
	CHECK_INT(sdnotify_watchdog_due(4000 + SDNOTIFY_UNREADY_MAX_MS, 4000, 1000), 1);
	CHECK_INT(sdnotify_watchdog_due(4001 + SDNOTIFY_UNREADY_MAX_MS, 4000, 1000), 0);
}

/* A datagram socket playing the service manager: bound at path, or at an abstract name when
 * path starts with '@'. */
static int
manager_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* The next datagram, "" when none is waiting. */
static const char *
next_datagram(int fd)
{
	static char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
test_sequence(const char *path)
{
	int fd = manager_socket(path);

	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	unsetenv("WATCHDOG_PID");
	CHECK_INT(sdnotify_init(), 1);
	/* Taken from the environment, so the workers do not inherit them. */
	CHECK(getenv("NOTIFY_SOCKET") == NULL);
	CHECK(getenv("WATCHDOG_USEC") == NULL);
	CHECK_INT(sdnotify_watchdog_ms(), 2000);

	/* Not all ready: a status, no readiness, no watchdog. */
	sdnotify_update(1000, 0, "unhealthy: mqttd is starting");
	CHECK_STR(next_datagram(fd), "STATUS=unhealthy: mqttd is starting");
	/* The same status again is not repeated. */
	sdnotify_update(1100, 0, "unhealthy: mqttd is starting");
	CHECK_STR(next_datagram(fd), "");
	/* All ready: READY=1 once, with the new status. */
	sdnotify_update(1200, 1, "healthy: 4 workers ready");
	CHECK_STR(next_datagram(fd), "READY=1\nSTATUS=healthy: 4 workers ready");
	/* Then watchdog pings, at most every quarter of the interval. */
	sdnotify_update(2200, 1, "healthy: 4 workers ready");
	CHECK_STR(next_datagram(fd), "WATCHDOG=1\n");
	sdnotify_update(2300, 1, "healthy: 4 workers ready");
	CHECK_STR(next_datagram(fd), "");
	/* A reload: RELOADING=1; the supervisor says when it is over, READY=1 once. */
	sdnotify_reloading(2310123, "reloading the configuration");
	CHECK_STR(next_datagram(fd),
	          "RELOADING=1\nMONOTONIC_USEC=2310123\nSTATUS=reloading the configuration");
	sdnotify_update(2320, 0, "unhealthy: httpd is starting");
	CHECK_STR(next_datagram(fd), "STATUS=unhealthy: httpd is starting");
	sdnotify_update(2330, 1, "healthy: 4 workers ready");
	CHECK_STR(next_datagram(fd), "STATUS=healthy: 4 workers ready");
	sdnotify_reload_done("healthy: 4 workers ready");
	CHECK_STR(next_datagram(fd), "READY=1\n");
	sdnotify_reload_done("healthy: 4 workers ready");
	CHECK_STR(next_datagram(fd), "");
	sdnotify_update(2340, 1, "healthy: 4 workers ready");
	CHECK_STR(next_datagram(fd), "");
	/* A reload a worker refused is over too, with the status saying so. */
	sdnotify_reloading(2350000, "reloading the configuration");
	CHECK_STR(next_datagram(fd),
	          "RELOADING=1\nMONOTONIC_USEC=2350000\nSTATUS=reloading the configuration");
	sdnotify_reload_done("unhealthy: httpd refused the configuration");
	CHECK_STR(next_datagram(fd), "READY=1\nSTATUS=unhealthy: httpd refused the configuration");
	sdnotify_update(2360, 0, "unhealthy: httpd refused the configuration");
	CHECK_STR(next_datagram(fd), "");
	sdnotify_update(2800, 0, "unhealthy: httpd is backing-off");
	CHECK_STR(next_datagram(fd), "WATCHDOG=1\nSTATUS=unhealthy: httpd is backing-off");
	/* Not ready for longer than the grace: no more pings. */
	sdnotify_update(2800 + SDNOTIFY_UNREADY_MAX_MS + 1000, 0,
	                "unhealthy: httpd is backing-off");
	CHECK_STR(next_datagram(fd), "");
	sdnotify_stopping("stopping");
	CHECK_STR(next_datagram(fd), "STOPPING=1\nSTATUS=stopping");
	/* Nothing after STOPPING. */
	sdnotify_update(900000, 1, "healthy");
	CHECK_STR(next_datagram(fd), "");
	sdnotify_reloading(900001, "reloading the configuration");
	CHECK_STR(next_datagram(fd), "");
	sdnotify_close();
	close(fd);
}

int
main(void)
{
	char path[64];

	test_watchdog_rule();
	/* Without NOTIFY_SOCKET nothing is sent and nothing fails. */
	unsetenv("NOTIFY_SOCKET");
	CHECK_INT(sdnotify_init(), 0);
	CHECK_INT(sdnotify_enabled(), 0);
	CHECK_INT(sdnotify_send("READY=1"), 0);
	/* Not a unix socket path. */
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	CHECK_INT(sdnotify_init(), -1);
	CHECK_INT(sdnotify_enabled(), 0);

	snprintf(path, sizeof(path), "/tmp/sbnotify-%d", (int)getpid());
	unlink(path);
	test_sequence(path);
	unlink(path);
	/* The abstract namespace, as systemd itself uses. */
	snprintf(path, sizeof(path), "@sbnotify-%d", (int)getpid());
	test_sequence(path);
	CHECK_DONE();
}
