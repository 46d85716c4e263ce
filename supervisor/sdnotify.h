/* sdnotify.h -- systemd's service notification protocol without libsystemd: state lines sent as
 * datagrams to $NOTIFY_SOCKET. READY=1 once every worker is ready, WATCHDOG=1 while they keep
 * being ready, STATUS= with the healthcheck line, RELOADING=1 for a SIGHUP (READY=1 again when
 * the workers it restarted are back), STOPPING=1 on the way out. */
#ifndef SB_SDNOTIFY_H
#define SB_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* Workers not all ready for this long (or twice the watchdog interval, if longer) stop the
 * watchdog pings: the restart policy is not getting anywhere, let the service manager act. */
#define SDNOTIFY_UNREADY_MAX_MS 60000

/* Take NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment and remove them, so
 * the workers neither inherit nor use them. Returns 1 when notifications will be sent, 0 when
 * there is no service manager to tell, -1 when NOTIFY_SOCKET is unusable (logged). */
int sdnotify_init(void);

/* 1 when sdnotify_init found a socket. */
int sdnotify_enabled(void);

/* Send one notification ("READY=1\nSTATUS=..."). Never blocks. Returns 0 (also when disabled)
 * or a negative errno. */
int sdnotify_send(const char *state);

/* The watchdog interval the service manager asked for, in ms; 0 for none. */
uint64_t sdnotify_watchdog_ms(void);

/* Pure: whether a health round at now (monotonic ms) pings the watchdog, given when the
 * workers were last all ready (0: never) and the watchdog interval. */
int sdnotify_watchdog_due(uint64_t now_ms, uint64_t all_ready_ms, uint64_t watchdog_ms);

/* The supervisor's view, on every health round and whenever a worker becomes ready: sends
 * READY=1 the first time all_ready is true, WATCHDOG=1 when due (at most every quarter of the
 * interval), and STATUS=<status> when it changed. */
void sdnotify_update(uint64_t now_ms, int all_ready, const char *status);

/* RELOADING=1 with MONOTONIC_USEC (now_us, CLOCK_MONOTONIC in microseconds: systemd ignores a
 * RELOADING=1 older than the reload it started) and the status. Nothing before the first
 * READY=1 or once stopping. */
void sdnotify_reloading(uint64_t now_us, const char *status);

/* The reload is over (the workers it restarted are ready, or refused the new file): READY=1,
 * with the status when it changed, if RELOADING=1 is still unanswered. */
void sdnotify_reload_done(const char *status);

/* STOPPING=1, once; no watchdog pings after it. */
void sdnotify_stopping(const char *status);

void sdnotify_close(void);

#endif
