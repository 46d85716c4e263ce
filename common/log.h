/* log.h -- leveled logging to stderr, one line per call, every line names its function. */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <errno.h>
#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the process name shown on every line and the most verbose level printed. */
void log_init(const char *procname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" (or "?"), and back; parse returns -1 for anything else. */
const char *log_level_name(enum log_level level);
int log_level_parse(const char *s);

void log_emit(enum log_level level, const char *func, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
_Noreturn void log_fatal_emit(const char *func, int errnum, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Called by fatal and its kin with the exit status and the message (no timestamp), just before
 * the process exits: a worker passes the reason on to its supervisor this way. */
void log_set_fatal_hook(void (*hook)(int status, const char *message));

/* _warn and fatal append strerror(errno); _warnx and fatalx do not. */
#define log_debug(...) log_emit(LOG_LVL_DEBUG, __func__, 0, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LVL_INFO, __func__, 0, __VA_ARGS__)
#define log_warnx(...) log_emit(LOG_LVL_WARN, __func__, 0, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LVL_WARN, __func__, errno ? errno : -1, __VA_ARGS__)
#define log_errorx(...) log_emit(LOG_LVL_ERROR, __func__, 0, __VA_ARGS__)
#define fatalx(...) log_fatal_emit(__func__, 0, 1, __VA_ARGS__)
#define fatal(...) log_fatal_emit(__func__, errno ? errno : -1, 1, __VA_ARGS__)
/* Exit with EXIT_CONFIG: the supervisor will not restart a worker that does this. */
#define fatal_config(...) log_fatal_emit(__func__, 0, EXIT_CONFIG, __VA_ARGS__)

/* Exit status contract between workers and the supervisor (s6 style). */
#define EXIT_TEMPORARY 1 /* something failed; restart me */
#define EXIT_CONFIG 78   /* bad configuration (sysexits EX_CONFIG); do not restart */

#endif
