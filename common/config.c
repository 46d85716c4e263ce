/* config.c -- configuration keys, their parsing from file, environment and flags. */
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_kind { KEY_STR, KEY_INT, KEY_LEVEL };

struct key {
	const char *name;
	enum key_kind kind;
	size_t offset;
	size_t size;      /* buffer size for KEY_STR */
	long min, max;    /* range for KEY_INT */
	const char *help;
};

#define STR(f, h) {#f, KEY_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0, h}
#define INT(f, lo, hi, h) {#f, KEY_INT, offsetof(struct config, f), 0, lo, hi, h}

static const struct key keys[] = {
	STR(broker_host, "MQTT broker host"),
	INT(broker_port, 1, 65535, "MQTT broker port"),
	STR(base_topic, "first MQTT topic level"),
	STR(speakers, "manual speaker IPv4 addresses, comma separated (fallback to SSDP)"),
	INT(http_port, 1, 65535, "port httpd serves clips on"),
	STR(http_bind, "address httpd binds"),
	STR(advertise_host, "host the speakers fetch clips from (default: from the route)"),
	STR(multicast_if, "interfaces for SSDP: names or IPv4 addresses, comma separated "
	    "(default: every multicast interface)"),
	INT(discovery_timeout_ms, 100, 60000, "how long an SSDP search waits for answers"),
	STR(state_dir, "directory for the client id, spool and clip cache"),
	STR(runtime_dir, "private directory for bus sockets (default: $XDG_RUNTIME_DIR/sonos-bridge)"),
	STR(cache_dir, "directory for synthesized clips (default: <state_dir>/cache)"),
	STR(tts_voice, "espeak-ng voice, e.g. en, en-us, de, fr"),
	INT(max_text_length, 1, 8000, "longest TTS text accepted, in bytes"),
	INT(request_expiry_s, 1, 86400, "seconds after which a request is expired, not played"),
	{"log_level", KEY_LEVEL, offsetof(struct config, log_level), 0, 0, 0,
	 "error, warn, info or debug"},
	STR(household, "household ids (X-RINCON-HOUSEHOLD) to use, comma separated "
	    "(default: every household)"),
	INT(state_poll_ms, 200, 600000, "how often speaker state is read when no event came"),
	STR(chime_url, "audio URL played before every spoken announcement (default: none)"),
	STR(announce_all, "parallel (each group on its own) or grouped (one synchronized "
	    "stream) for sonos/all/tts and clip"),
	INT(search_interval_s, 1, 3600, "seconds between SSDP searches; a speaker silent "
	    "for two is probed"),
	INT(restart_intensity, 1, CONFIG_RESTART_INTENSITY_MAX, "more restarts of one worker than this within "
	    "restart_period_s: the bridge exits 3"),
	INT(restart_period_s, 1, 86400, "window of restart_intensity, in seconds"),
	INT(restart_stable_s, 0, 3600, "a worker up this long restarts at once, else after a "
	    "doubling delay"),
	INT(broker_tls, 0, 1, "1: connect to the broker with TLS (also on when a CA, certificate "
	    "or key is set)"),
	INT(broker_tls_verify, 0, 1, "0: accept any broker certificate and host name (insecure)"),
	STR(broker_cafile, "CA certificate file (PEM) for the broker (default: the system's)"),
	STR(broker_capath, "directory of CA certificates for the broker"),
	STR(broker_certfile, "client certificate (PEM) presented to the broker"),
	STR(broker_keyfile, "private key of broker_certfile (PEM)"),
	STR(broker_username, "MQTT username"),
	STR(broker_password, "MQTT password (visible to anyone who can read the configuration; "
	    "prefer broker_password_file)"),
	STR(broker_password_file, "file whose first line is the MQTT password"),
	STR(hass_discovery_prefix, "Home Assistant MQTT discovery prefix (empty: no discovery)"),
	INT(hass_remove_after_s, 0, 31536000, "a speaker gone this many seconds is removed from "
	    "Home Assistant"),
	INT(status_page, 0, 1, "1: the status page and its test announcement form on http_port"),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->broker_host, "localhost");
	cfg->broker_port = 1883;
	strcpy(cfg->base_topic, "sonos");
	cfg->http_port = 8047;
	strcpy(cfg->http_bind, "0.0.0.0");
	cfg->discovery_timeout_ms = 1500;
	strcpy(cfg->state_dir, "/var/lib/sonos-bridge");
	strcpy(cfg->tts_voice, "en");
	cfg->max_text_length = 1000;
	cfg->request_expiry_s = 300;
	cfg->log_level = LOG_LVL_INFO;
	cfg->search_interval_s = 60;
	cfg->restart_intensity = 5;
	cfg->restart_period_s = 60;
	cfg->restart_stable_s = 10;
	cfg->state_poll_ms = 5000;
	strcpy(cfg->announce_all, "parallel");
	cfg->broker_tls_verify = 1;
	strcpy(cfg->hass_discovery_prefix, "homeassistant");
	cfg->hass_remove_after_s = 86400;
	cfg->status_page = 1;
}

static const struct key *
key_find(const char *name)
{
	char norm[64];
	size_t i;

	for (i = 0; name[i] != '\0' && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '-' ? '_' : (char)tolower((unsigned char)name[i]);
	norm[i] = '\0';
	for (size_t k = 0; k < NKEYS; k++)
		if (strcmp(keys[k].name, norm) == 0)
			return &keys[k];
	return NULL;
}

int
config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
	const struct key *k = key_find(name);
	char *field, *end;
	long v;
	int lvl;

	if (k == NULL) {
		snprintf(err, errlen, "unknown key '%s'", name);
		return -1;
	}
	field = (char *)cfg + k->offset;
	switch (k->kind) {
	case KEY_STR:
		if (strlen(value) >= k->size) {
			snprintf(err, errlen, "%s: value longer than %zu bytes", k->name, k->size - 1);
			return -1;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case KEY_INT:
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v < k->min || v > k->max) {
			snprintf(err, errlen, "%s: '%s' is not a number from %ld to %ld", k->name,
				 value, k->min, k->max);
			return -1;
		}
		*(int *)(void *)field = (int)v;
		return 0;
	case KEY_LEVEL:
		if ((lvl = log_level_parse(value)) < 0) {
			snprintf(err, errlen, "%s: '%s' is not error, warn, info or debug", k->name,
				 value);
			return -1;
		}
		*(int *)(void *)field = lvl;
		return 0;
	}
	return -1;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
config_parse_buffer(struct config *cfg, const char *buf, size_t len, char *err, size_t errlen)
{
	char line[CONFIG_STR_MAX * 5], reason[256];
	size_t pos = 0;
	int lineno = 0;

	while (pos < len) {
		size_t n = 0;
		char *p, *key, *value;

		lineno++;
		while (pos < len && buf[pos] != '\n') {
			if (buf[pos] == '\0') {
				snprintf(err, errlen, "line %d: NUL byte", lineno);
				return -1;
			}
			if (n >= sizeof(line) - 1) {
				snprintf(err, errlen, "line %d: longer than %zu bytes", lineno,
					 sizeof(line) - 1);
				return -1;
			}
			line[n++] = buf[pos++];
		}
		pos++; /* the newline */
		line[n] = '\0';
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		key = trim(line);
		if (*key == '\0')
			continue;
		for (p = key; *p != '\0' && !isspace((unsigned char)*p); p++)
			;
		if (*p != '\0')
			*p++ = '\0';
		value = trim(p);
		if (config_set(cfg, key, value, reason, sizeof(reason)) < 0) {
			snprintf(err, errlen, "line %d: %s", lineno, reason);
			return -1;
		}
	}
	return 0;
}

static int
config_read_file(struct config *cfg, const char *path, int must_exist, char *err, size_t errlen)
{
	char buf[65536], reason[300];
	size_t len;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		if (!must_exist && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	if (ferror(f) || len == sizeof(buf)) {
		snprintf(err, errlen, "%s: %s", path, ferror(f) ? strerror(errno) : "file too large");
		fclose(f);
		return -1;
	}
	fclose(f);
	if (config_parse_buffer(cfg, buf, len, reason, sizeof(reason)) < 0) {
		snprintf(err, errlen, "%s: %s", path, reason);
		return -1;
	}
	snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", path);
	return 0;
}

int
config_apply_env(struct config *cfg, char *const *envp, char *err, size_t errlen)
{
	static const char prefix[] = "SONOS_BRIDGE_";
	char key[64], reason[256];

	for (; envp != NULL && *envp != NULL; envp++) {
		const char *e = *envp, *eq;
		size_t n;

		if (strncmp(e, prefix, sizeof(prefix) - 1) != 0 || (eq = strchr(e, '=')) == NULL)
			continue;
		e += sizeof(prefix) - 1;
		n = (size_t)(eq - e);
		if (n >= sizeof(key))
			n = sizeof(key) - 1;
		memcpy(key, e, n);
		key[n] = '\0';
		if (strcmp(key, "CONFIG") == 0)
			continue;
		if (config_set(cfg, key, eq + 1, reason, sizeof(reason)) < 0) {
			snprintf(err, errlen, "environment SONOS_BRIDGE_%s: %s", key, reason);
			return -1;
		}
	}
	return 0;
}

int
config_apply_args(struct config *cfg, int argc, char *const *argv, int *rest, char *err,
		  size_t errlen)
{
	char key[64], reason[256];
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *value, *eq;
		size_t n;

		if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
			break;
		a += 2;
		if ((eq = strchr(a, '=')) != NULL) {
			n = (size_t)(eq - a);
			value = eq + 1;
		} else {
			n = strlen(a);
			if (i + 1 >= argc) {
				snprintf(err, errlen, "--%s needs a value", a);
				return -1;
			}
			value = argv[++i];
		}
		if (n >= sizeof(key)) {
			snprintf(err, errlen, "unknown flag --%.40s", a);
			return -1;
		}
		memcpy(key, a, n);
		key[n] = '\0';
		if (strcmp(key, "config") == 0)
			continue;
		if (config_set(cfg, key, value, reason, sizeof(reason)) < 0) {
			snprintf(err, errlen, "--%s: %s", key, reason);
			return -1;
		}
	}
	if (rest != NULL)
		*rest = i;
	return 0;
}

int
config_speaker_list(const struct config *cfg, char out[][64], int max)
{
	const char *p = cfg->speakers;
	int n = 0;

	while (*p != '\0' && n < max) {
		size_t len;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (len >= 64)
			len = 63;
		memcpy(out[n], p, len);
		out[n][len] = '\0';
		n++;
		p += strcspn(p, ", \t");
	}
	return n;
}

int
config_finish(struct config *cfg, char *err, size_t errlen)
{
	char list[CONFIG_MAX_SPEAKERS][64];
	struct in_addr a;
	int n;
	const char *p;

	n = config_speaker_list(cfg, list, CONFIG_MAX_SPEAKERS);
	for (int i = 0; i < n; i++)
		if (inet_pton(AF_INET, list[i], &a) != 1) {
			snprintf(err, errlen, "speakers: '%s' is not an IPv4 address", list[i]);
			return -1;
		}
	if (strspn(cfg->multicast_if, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_.:@-, ") != strlen(cfg->multicast_if)) {
		snprintf(err, errlen, "multicast_if: '%s' is not a list of interface names or IPv4 "
			 "addresses", cfg->multicast_if);
		return -1;
	}
	if (strspn(cfg->household, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_.-, ") != strlen(cfg->household)) {
		snprintf(err, errlen, "household: '%s' is not a list of household ids",
			 cfg->household);
		return -1;
	}
	if (cfg->base_topic[0] == '\0' || strpbrk(cfg->base_topic, "+#") != NULL) {
		snprintf(err, errlen, "base_topic: must be non-empty, without + or #");
		return -1;
	}
	if ((cfg->broker_certfile[0] == '\0') != (cfg->broker_keyfile[0] == '\0')) {
		snprintf(err, errlen, "broker_certfile and broker_keyfile go together");
		return -1;
	}
	if (cfg->broker_password[0] != '\0' && cfg->broker_password_file[0] != '\0') {
		snprintf(err, errlen, "broker_password and broker_password_file: set one");
		return -1;
	}
	if (cfg->broker_username[0] == '\0' &&
	    (cfg->broker_password[0] != '\0' || cfg->broker_password_file[0] != '\0')) {
		snprintf(err, errlen, "a broker password needs broker_username");
		return -1;
	}
	if (strcmp(cfg->announce_all, "parallel") != 0 && strcmp(cfg->announce_all, "grouped") != 0) {
		snprintf(err, errlen, "announce_all: '%s' is not parallel or grouped",
			 cfg->announce_all);
		return -1;
	}
	if (cfg->state_dir[0] == '\0') {
		snprintf(err, errlen, "state_dir: must be set");
		return -1;
	}
	if (cfg->runtime_dir[0] == '\0') {
		if ((p = getenv("XDG_RUNTIME_DIR")) != NULL && *p == '/')
			n = snprintf(cfg->runtime_dir, sizeof(cfg->runtime_dir), "%s/sonos-bridge", p);
		else
			n = snprintf(cfg->runtime_dir, sizeof(cfg->runtime_dir),
				     "/tmp/sonos-bridge-%u", (unsigned)getuid());
		if (n < 0 || (size_t)n >= sizeof(cfg->runtime_dir)) {
			snprintf(err, errlen, "runtime_dir: derived path too long");
			return -1;
		}
	}
	/* Bus sockets live here: sockaddr_un allows 108 bytes for "<dir>/<name>.ipc". */
	if (strlen(cfg->runtime_dir) > 80) {
		snprintf(err, errlen, "runtime_dir: '%s' is longer than 80 bytes", cfg->runtime_dir);
		return -1;
	}
	if (cfg->cache_dir[0] == '\0') {
		n = snprintf(cfg->cache_dir, sizeof(cfg->cache_dir), "%s/cache", cfg->state_dir);
		if (n < 0 || (size_t)n >= sizeof(cfg->cache_dir)) {
			snprintf(err, errlen, "cache_dir: derived path too long");
			return -1;
		}
	}
	return 0;
}

int
config_load(struct config *cfg, int argc, char *const *argv, char *const *envp, int *rest,
	    char *err, size_t errlen)
{
	const char *file = NULL;
	int must_exist = 1;

	config_defaults(cfg);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
	}
	for (char *const *e = envp; file == NULL && e != NULL && *e != NULL; e++)
		if (strncmp(*e, "SONOS_BRIDGE_CONFIG=", 20) == 0)
			file = *e + 20;
	if (file == NULL) {
		file = CONFIG_DEFAULT_FILE;
		must_exist = 0;
	}
	if (config_read_file(cfg, file, must_exist, err, errlen) < 0)
		return -1;
	if (config_apply_env(cfg, envp, err, errlen) < 0)
		return -1;
	if (config_apply_args(cfg, argc, argv, rest, err, errlen) < 0)
		return -1;
	return config_finish(cfg, err, errlen);
}

void
config_print_keys(void)
{
	for (size_t k = 0; k < NKEYS; k++)
		printf("  --%-22s %s\n", keys[k].name, keys[k].help);
}
