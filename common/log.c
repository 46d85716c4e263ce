/* log.c -- leveled logging to stderr: timestamp, process, level, function, message. */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_procname[32] = "sonos-bridge";
/* Atomic: the health survey changes it on the loop thread while pool threads log. */
static atomic_int log_level_max = LOG_LVL_INFO;

static void (*log_fatal_hook)(int status, const char *message);
static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

void
log_init(const char *procname, enum log_level level)
{
	snprintf(log_procname, sizeof(log_procname), "%s", procname);
	atomic_store_explicit(&log_level_max, (int)level, memory_order_relaxed);
}

void
log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level_max, (int)level, memory_order_relaxed);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level_max, memory_order_relaxed);
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
		return "?";
	return log_level_names[level];
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++)
		if (strcmp(s, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

static void
log_vemit(enum log_level level, const char *func, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%d] %s: %s: ",
			      ts.tv_nsec / 1000000, log_procname, (int)getpid(),
			      log_level_names[level], func);
	if (n < sizeof(line))
		n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (errnum != 0 && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s",
				      errnum > 0 ? strerror(errnum) : "unknown error");
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line, so lines of concurrent processes and threads do not interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void
log_emit(enum log_level level, const char *func, int errnum, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if ((int)level > atomic_load_explicit(&log_level_max, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	log_vemit(level, func, errnum, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_set_fatal_hook(void (*hook)(int status, const char *message))
{
	log_fatal_hook = hook;
}

void
log_fatal_emit(const char *func, int errnum, int status, const char *fmt, ...)
{
	va_list ap, copy;
	char msg[512];
	int n;

	va_start(ap, fmt);
	va_copy(copy, ap);
	log_vemit(LOG_LVL_ERROR, func, errnum, fmt, ap);
	if (log_fatal_hook != NULL) {
		n = vsnprintf(msg, sizeof(msg), fmt, copy);
		if (errnum != 0 && n >= 0 && (size_t)n < sizeof(msg))
			snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
				 errnum > 0 ? strerror(errnum) : "unknown error");
		log_fatal_hook(status, msg);
	}
	va_end(copy);
	va_end(ap);
	exit(status);
}
