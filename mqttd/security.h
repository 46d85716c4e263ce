/* security.h -- broker TLS and authentication: the broker_* configuration keys applied to a
 * libmosquitto handle, and the TLS and authentication failures they meet, for logs and health. */
#ifndef MQTTD_SECURITY_H
#define MQTTD_SECURITY_H

#include <stddef.h>

struct config;
struct mosquitto;

#define SECURITY_DEFAULT_CAPATH "/etc/ssl/certs" /* Debian's system CA store */

/* What the session's security is and what last went wrong with it. */
struct security_status {
	int tls;              /* TLS in use */
	int verify;           /* the broker's certificate and host name are checked */
	int auth;             /* a username (and maybe a password) is sent */
	unsigned failures;    /* TLS or authentication failures since the start */
	char last_error[192]; /* the latest of them; "" once a session was accepted after it */
};

/* Apply TLS and username/password from cfg to mosq and watch libmosquitto's log for TLS
 * and authentication failures (this replaces any log callback set before; debug lines still
 * reach the log). A setting that can never work (an unreadable CA, certificate, key or
 * password file, a CA path that is not a directory) stops mqttd with EXIT_CONFIG and the
 * reason, since retrying cannot fix it. Returns 0, or -1 (logged) when libmosquitto fails. */
int security_apply(struct mosquitto *mosq, const struct config *cfg);

/* The status above, for the health facts and bridge info (e.g. "broker_security":
 * {"tls":true,"verify":true,"auth":true,"failures":3,"last_error":"TLS: ..."}). */
void security_get_status(struct security_status *st);

/* The TLS failure libmosquitto reported since the last call, or NULL: the reason a
 * connection attempt failed, in words (libmosquitto itself only says "A TLS error occurred").
 * Each failure is handed out once. */
const char *security_take_failure(void);

/* Pure: what libmosquitto's log line says about security. Returns 1 and a sentence for the
 * user in out for a TLS failure or a refused username/password, 2 for an accepted session
 * (CONNACK 0), 0 for anything else. */
int security_classify_log(const char *line, char *out, size_t size);

/* Pure: the first line of a password file's contents, without its line end. Returns its
 * length, or -1 when it is empty or does not fit in size. */
int security_password_line(const char *buf, size_t len, char *out, size_t size);

#endif
