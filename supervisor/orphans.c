/* orphans.c -- workers that outlived a supervisor killed with SIGKILL. Each worker dies with
 * its supervisor (PR_SET_PDEATHSIG), but only if it can act on the signal: a stopped
 * (SIGSTOP) or hung worker cannot, and would keep the bus sockets, the HTTP port and the
 * broker client id from the next start. So the supervisor records its workers' pids in
 * <runtime_dir>/workers, and the next one, once it holds the directory's lock, kills any
 * recorded worker that is still there before it starts its own. */
#include "orphans.h"
#include "log.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORPHANS_FILE "workers"
#define ORPHAN_WAIT_MS 2000

size_t
orphans_parse(const char *text, struct orphan *out, size_t max)
{
	size_t n = 0;

	while (text != NULL && *text != '\0' && n < max) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char line[64], name[sizeof(out->name)];
		long pid;
		char extra;

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = '\0';
			if (sscanf(line, "%15s %ld %c", name, &pid, &extra) == 2 && pid > 1 &&
			    pid < (1L << 22)) {
				msg_strlcpy(out[n].name, name, sizeof(out[n].name));
				out[n].pid = (pid_t)pid;
				n++;
			}
		}
		text = eol ? eol + 1 : text + len;
	}
	return n;
}

int
orphans_record(const char *runtime_dir, const struct orphan *w, size_t n)
{
	char path[600], tmp[610];
	FILE *f;
	int rv = 0;

	snprintf(path, sizeof(path), "%s/%s", runtime_dir, ORPHANS_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -errno;
	for (size_t i = 0; i < n; i++)
		if (w[i].pid > 1)
			fprintf(f, "%s %d\n", w[i].name, (int)w[i].pid);
	if (fclose(f) != 0)
		rv = -errno;
	if (rv == 0 && rename(tmp, path) < 0)
		rv = -errno;
	if (rv < 0)
		unlink(tmp);
	return rv;
}

/* The process's name and state from /proc/<pid>/stat: "pid (comm) S ...". */
static int
proc_comm_state(pid_t pid, char *comm, size_t commlen, char *state)
{
	char path[64], buf[256], *open, *close;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((open = strchr(buf, '(')) == NULL || (close = strrchr(buf, ')')) == NULL ||
	    close < open || close[1] != ' ' || close[2] == '\0')
		return -1;
	*close = '\0';
	msg_strlcpy(comm, open + 1, commlen);
	*state = close[2];
	return 0;
}

/* 1 if one of pid's arguments is exactly arg (its --runtime-dir value). */
static int
proc_has_arg(pid_t pid, const char *arg)
{
	char path[64], buf[8192];
	size_t n, len = strlen(arg);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (strlen(buf + i) == len && memcmp(buf + i, arg, len) == 0)
			return 1;
	return 0;
}

/* Still holding what it held: it exists, is not a zombie waiting for its new parent, and is
 * our worker for this runtime directory (not another bridge's that got a recycled pid). */
static int
orphan_alive(const struct orphan *o, const char *runtime_dir)
{
	char comm[32], want[32], state;

	if (proc_comm_state(o->pid, comm, sizeof(comm), &state) < 0)
		return 0;
	snprintf(want, sizeof(want), "sb-%s", o->name);
	return strcmp(comm, want) == 0 && state != 'Z' && state != 'X' &&
	       proc_has_arg(o->pid, runtime_dir);
}

/* Wait until each listed orphan is gone, at most ORPHAN_WAIT_MS; returns how many are left. */
static size_t
orphans_wait(struct orphan *o, size_t n, const char *runtime_dir)
{
	uint64_t deadline = util_mono_ms() + ORPHAN_WAIT_MS;
	size_t left = 0;

	for (size_t i = 0; i < n; i++)
		while (o[i].pid != 0 && orphan_alive(&o[i], runtime_dir) &&
		       util_mono_ms() < deadline)
			usleep(10 * 1000);
	for (size_t i = 0; i < n; i++) {
		if (o[i].pid != 0 && !orphan_alive(&o[i], runtime_dir))
			o[i].pid = 0;
		if (o[i].pid != 0)
			left++;
	}
	return left;
}

int
orphans_reap(const char *runtime_dir)
{
	char path[600], text[1024];
	struct orphan o[16];
	size_t n, got;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", runtime_dir, ORPHANS_FILE);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	got = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[got] = '\0';
	n = orphans_parse(text, o, sizeof(o) / sizeof(o[0]));
	/* First as the supervisor would have stopped it (SIGCONT so that a stopped one can act):
	 * a worker still finishing its own stop is let finish it. */
	for (size_t i = 0; i < n; i++) {
		if (o[i].pid == getpid() || !orphan_alive(&o[i], runtime_dir)) {
			o[i].pid = 0;
			continue;
		}
		log_warnx("sb-%s (pid %d) of an earlier bridge is still running (it was stopped "
		          "or hung when its supervisor died); stopping it",
		          o[i].name, (int)o[i].pid);
		kill(o[i].pid, SIGTERM);
		kill(o[i].pid, SIGCONT);
		found++;
	}
	/* Its sockets are free only once it is gone. */
	if (found > 0 && orphans_wait(o, n, runtime_dir) > 0) {
		for (size_t i = 0; i < n; i++)
			if (o[i].pid != 0) {
				log_warnx("sb-%s (pid %d) did not stop within %d ms; killing it",
				          o[i].name, (int)o[i].pid, ORPHAN_WAIT_MS);
				kill(o[i].pid, SIGKILL);
			}
		orphans_wait(o, n, runtime_dir);
	}
	unlink(path);
	return found;
}
