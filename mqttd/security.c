/* security.c -- broker TLS (CA, client certificate, verification with host name check) and
 * username/password (also from a file), and a clear account of their failures. */
#include "security.h"
#include "config.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct security_status security; /* one broker session per mqttd */
static char security_pending[sizeof(security.last_error)]; /* TLS failure not yet taken */
static char security_taken[sizeof(security.last_error)];

int
security_password_line(const char *buf, size_t len, char *out, size_t size)
{
	size_t n = 0;

	while (n < len && buf[n] != '\n' && buf[n] != '\r' && buf[n] != '\0')
		n++;
	if (n == 0 || n >= size)
		return -1;
	memcpy(out, buf, n);
	out[n] = '\0';
	return (int)n;
}

int
security_classify_log(const char *line, char *out, size_t size)
{
	const char *p;
	int code;

	if ((p = strstr(line, "received CONNACK (")) != NULL &&
	    sscanf(p, "received CONNACK (%d)", &code) == 1) {
		if (code == 0)
			return 2;
		if (code == 4 || code == 5 || code == 0x86 || code == 0x87) {
			snprintf(out, size, "the broker refused the username or password (%s)",
				 mosquitto_connack_string(code));
			return 1;
		}
		return 0;
	}
	if ((p = strstr(line, "certificate verify failed")) != NULL) {
		snprintf(out, size, "TLS: the broker's certificate was not accepted (it does not "
				    "chain to the configured CA, or does not name broker_host)");
		return 1;
	}
	if ((p = strstr(line, "OpenSSL Error")) != NULL) {
		/* "OpenSSL Error[0]: error:0A000418:SSL routines::tlsv1 alert unknown ca" */
		const char *reason = strrchr(p, ':');

		snprintf(out, size, "TLS: %s", reason != NULL && reason[1] != '\0' ? reason + 1 : p);
		return 1;
	}
	if (strstr(line, "certificate/key are inconsistent") != NULL) {
		snprintf(out, size, "TLS: broker_certfile and broker_keyfile do not belong together");
		return 1;
	}
	return 0;
}

/* Every libmosquitto log line: security failures are recorded and logged once each. */
static void
security_log_cb(struct mosquitto *mosq, void *obj, int level, const char *line)
{
	char what[sizeof(security.last_error)];

	(void)mosq;
	(void)obj;
	(void)level;
	log_debug("libmosquitto: %s", line);
	switch (security_classify_log(line, what, sizeof(what))) {
	case 1:
		security.failures++;
		if (strcmp(what, security.last_error) != 0)
			log_errorx("%s", what);
		msg_strlcpy(security.last_error, what, sizeof(security.last_error));
		if (strncmp(what, "TLS", 3) == 0)
			msg_strlcpy(security_pending, what, sizeof(security_pending));
		break;
	case 2:
		security.last_error[0] = '\0';
		break;
	default:
		break;
	}
}

/* A file the configuration names must be readable now: later it would fail at every
 * attempt. Exits with EXIT_CONFIG otherwise. */
static void
security_check_file(const char *key, const char *path, int want_dir)
{
	struct stat st;

	if (stat(path, &st) < 0 || access(path, R_OK) < 0)
		fatal_config("%s: %s: %s", key, path, strerror(errno));
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		fatal_config("%s: %s is not a %s", key, path, want_dir ? "directory" : "file");
}

/* Read the first line of the password file into out. Exits with EXIT_CONFIG when it
 * cannot. */
static void
security_read_password(const char *path, char *out, size_t size)
{
	char buf[CONFIG_STR_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		fatal_config("broker_password_file: %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077) != 0)
		log_warnx("broker_password_file: %s can be read by other users (mode %03o)", path,
			  (unsigned)(st.st_mode & 0777));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		fatal_config("broker_password_file: %s: %s", path, strerror(errno));
	if (security_password_line(buf, (size_t)n, out, size) < 0)
		fatal_config("broker_password_file: %s: the first line must hold the password "
			     "(1 to %zu bytes)", path, size - 1);
	memset(buf, 0, sizeof(buf));
}

static int
security_tls(struct mosquitto *mosq, const struct config *cfg)
{
	const char *cafile = cfg->broker_cafile[0] != '\0' ? cfg->broker_cafile : NULL;
	const char *capath = cfg->broker_capath[0] != '\0' ? cfg->broker_capath : NULL;
	const char *cert = cfg->broker_certfile[0] != '\0' ? cfg->broker_certfile : NULL;
	const char *key = cfg->broker_keyfile[0] != '\0' ? cfg->broker_keyfile : NULL;
	int rc;

	if (cafile == NULL && capath == NULL)
		capath = SECURITY_DEFAULT_CAPATH;
	if (cafile != NULL)
		security_check_file("broker_cafile", cafile, 0);
	if (capath != NULL)
		security_check_file(cfg->broker_capath[0] != '\0' ? "broker_capath"
								   : "system CA directory",
				    capath, 1);
	if (cert != NULL) {
		security_check_file("broker_certfile", cert, 0);
		security_check_file("broker_keyfile", key, 0);
	}
	if ((rc = mosquitto_tls_set(mosq, cafile, capath, cert, key, NULL)) != MOSQ_ERR_SUCCESS ||
	    (rc = mosquitto_tls_opts_set(mosq, cfg->broker_tls_verify ? 1 : 0, NULL, NULL)) !=
		    MOSQ_ERR_SUCCESS ||
	    (rc = mosquitto_tls_insecure_set(mosq, !cfg->broker_tls_verify)) != MOSQ_ERR_SUCCESS) {
		log_warnx("libmosquitto TLS setup: %s", mosquitto_strerror(rc));
		return -1;
	}
	if (!cfg->broker_tls_verify)
		log_warnx("broker_tls_verify is 0: any certificate is accepted for %s; the session "
			  "can be intercepted",
			  cfg->broker_host);
	return 0;
}

int
security_apply(struct mosquitto *mosq, const struct config *cfg)
{
	char password[CONFIG_STR_MAX];
	const char *pw = NULL;
	int rc;

	memset(&security, 0, sizeof(security));
	mosquitto_log_callback_set(mosq, security_log_cb);
	security.tls = cfg->broker_tls || cfg->broker_cafile[0] != '\0' ||
		       cfg->broker_capath[0] != '\0' || cfg->broker_certfile[0] != '\0';
	security.verify = security.tls && cfg->broker_tls_verify;
	if (security.tls && security_tls(mosq, cfg) < 0)
		return -1;
	if (cfg->broker_username[0] == '\0')
		return 0;
	security.auth = 1;
	if (cfg->broker_password_file[0] != '\0') {
		security_read_password(cfg->broker_password_file, password, sizeof(password));
		pw = password;
	} else if (cfg->broker_password[0] != '\0') {
		pw = cfg->broker_password;
	}
	if (pw != NULL && !security.tls)
		log_warnx("the broker password travels unencrypted to %s (set broker_tls)",
			  cfg->broker_host);
	rc = mosquitto_username_pw_set(mosq, cfg->broker_username, pw); /* copies both */
	memset(password, 0, sizeof(password));
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warnx("libmosquitto username setup: %s", mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

void
security_get_status(struct security_status *st)
{
	*st = security;
}

const char *
security_take_failure(void)
{
	if (security_pending[0] == '\0')
		return NULL;
	msg_strlcpy(security_taken, security_pending, sizeof(security_taken));
	security_pending[0] = '\0';
	return security_taken;
}
