/* config.h -- bridge configuration: defaults < file (key value) < SONOS_BRIDGE_* env < --flags. */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stddef.h>

#define CONFIG_STR_MAX 256

/* Highest restart_intensity: the supervisor keeps this many restart times, plus one. */
#define CONFIG_RESTART_INTENSITY_MAX 100
#define CONFIG_MAX_SPEAKERS 64
#define CONFIG_DEFAULT_FILE "/etc/sonos-bridge.conf"

struct config {
	char config_file[CONFIG_STR_MAX];   /* the file actually read; "" when none */
	char broker_host[CONFIG_STR_MAX];   /* MQTT broker host name or address */
	int broker_port;                    /* MQTT broker TCP port */
	char base_topic[CONFIG_STR_MAX];    /* first topic level, "sonos" */
	char speakers[CONFIG_STR_MAX * 4];  /* manual speaker IPv4 addresses, comma separated */
	int http_port;                      /* port of httpd, which serves clips to speakers */
	char http_bind[CONFIG_STR_MAX];     /* address httpd binds */
	char advertise_host[CONFIG_STR_MAX]; /* host put in clip URLs; "" = from route to speaker */
	char multicast_if[CONFIG_STR_MAX];  /* SSDP interfaces, names or IPv4 addresses; "" = all */
	int discovery_timeout_ms;           /* how long one SSDP search listens for answers */
	char state_dir[CONFIG_STR_MAX];     /* client id, spool, clip cache */
	char runtime_dir[CONFIG_STR_MAX];   /* bus sockets; private, mode 0700 */
	char cache_dir[CONFIG_STR_MAX];     /* synthesized clips; "" = <state_dir>/cache */
	char tts_voice[64];                 /* espeak-ng voice/language, e.g. "en", "de", "fr" */
	int max_text_length;                /* longest TTS text accepted, in bytes */
	int request_expiry_s;               /* a request older than this is not played */
	int log_level;                      /* enum log_level */
	char household[CONFIG_STR_MAX];    /* household ids to use, comma separated; "" = all */
	int search_interval_s;              /* SSDP re-search period; liveness follows it */
	int restart_intensity;              /* more restarts of one worker than this ... (<= max) */
	int restart_period_s;               /* ... within this many seconds: the bridge gives up */
	int restart_stable_s;               /* a worker up this long restarts at once */
	int state_poll_ms;                  /* speaker state polling period (GENA fallback) */
	char announce_all[16];              /* "parallel" or "grouped": how sonos/all/tts plays */
	char chime_url[CONFIG_STR_MAX * 2]; /* played before every TTS announcement; "" = none */
	/* Broker security (mqttd/security.c). TLS is on when broker_tls is 1 or a CA,
	 * certificate or key is named. */
	int broker_tls;                        /* 1: TLS to the broker */
	int broker_tls_verify;                 /* 1 (default): check the certificate and host name */
	char broker_cafile[CONFIG_STR_MAX];    /* CA certificate(s) (PEM) the broker's chains to */
	char broker_capath[CONFIG_STR_MAX];    /* directory of hashed CA certificates */
	char broker_certfile[CONFIG_STR_MAX];  /* client certificate (PEM), with broker_keyfile */
	char broker_keyfile[CONFIG_STR_MAX];   /* its private key (PEM, unencrypted) */
	char broker_username[CONFIG_STR_MAX];  /* "" = no username and password */
	char broker_password[CONFIG_STR_MAX];  /* prefer broker_password_file */
	char broker_password_file[CONFIG_STR_MAX]; /* first line is the password */
	char hass_discovery_prefix[CONFIG_STR_MAX]; /* Home Assistant discovery; "" = off */
	int hass_remove_after_s;            /* a speaker gone this long leaves Home Assistant */
	int status_page;                    /* 1: httpd serves / and the test announcement form */
};

/* Fill cfg with the built-in defaults (runtime_dir and cache_dir derived later). */
void config_defaults(struct config *cfg);

/* Set one key from any source. Accepts '-' or '_' in key names. Returns 0, or -1 with a
 * reason in err. */
int config_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Parse a whole configuration file held in memory ("key value" lines, '#' comments).
 * Pure: no I/O. Returns 0, or -1 with "line N: reason" in err. */
int config_parse_buffer(struct config *cfg, const char *buf, size_t len, char *err, size_t errlen);

/* Apply every SONOS_BRIDGE_<KEY> variable in envp. */
int config_apply_env(struct config *cfg, char *const *envp, char *err, size_t errlen);

/* Apply --key value / --key=value flags. Stops at the first argument that is not a flag
 * and returns its index in *rest (argc when none). */
int config_apply_args(struct config *cfg, int argc, char *const *argv, int *rest, char *err,
		      size_t errlen);

/* Check cross-field rules and derive runtime_dir and cache_dir. */
int config_finish(struct config *cfg, char *err, size_t errlen);

/* Everything above in order: defaults, file (from --config, SONOS_BRIDGE_CONFIG or the
 * default path if it exists), environment, flags, finish. */
int config_load(struct config *cfg, int argc, char *const *argv, char *const *envp, int *rest,
		char *err, size_t errlen);

/* Split cfg->speakers into addresses. Returns the count (at most max). */
int config_speaker_list(const struct config *cfg, char out[][64], int max);

/* Print every key with its help text, for `--help`. */
void config_print_keys(void);

#endif
