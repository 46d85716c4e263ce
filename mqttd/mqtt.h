/* mqtt.h -- the broker session: libmosquitto driven by a libuv loop, with its own reconnects. */
#ifndef MQTTD_MQTT_H
#define MQTTD_MQTT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct mosquitto_message;
struct mqtt_session;

struct mqtt_options {
	const char *host;
	int port;
	const char *client_id;  /* stable across restarts; the session is not clean */
	const char *will_topic; /* retained QoS 1 will */
	const char *will_payload;
	int keepalive_s;
	/* A file whose existence says the broker has held a session for this client id before
	 * (created after the first accepted session), so a CONNACK without one means it was
	 * lost. NULL: only sessions of this process count. */
	const char *session_marker;
	/* Its broker_* keys give TLS and username/password (security.c); NULL: plain TCP,
	 * anonymous. */
	const struct config *cfg;
};

/* What the session has been through, for logs and health. */
struct mqtt_status {
	int connected;
	unsigned connects;         /* sessions accepted since start */
	int session_present;       /* the last CONNACK's session-present flag; -1 before one */
	unsigned sessions_lost;    /* CONNACKs without the session we had */
	uint64_t session_lost_ms;  /* wall clock of the last loss, 0 if none */
	int twin_suspected;        /* another client seems to use our client id */
	unsigned refusals;         /* connections dropped on purpose (ack withheld) */
	char last_failure[128];    /* last reason a connection failed or ended, "" if none */
};

struct mqtt_handlers {
	/* The broker accepted the session: subscribe and republish retained state here. */
	void (*connected)(void *ctx);
	/* A message arrived. Its QoS 1 PUBACK leaves only after this returns. */
	void (*message)(void *ctx, const struct mosquitto_message *m);
	/* mqtt_stop is done with the broker and has closed the session's handles. */
	void (*stopped)(void *ctx);
	/* The broker acknowledged our QoS 1 publish mid (may be NULL). */
	void (*published)(void *ctx, int mid);
};

/* Create the session and start connecting. Returns NULL (logged) when libmosquitto cannot be
 * set up. Connection failures are not errors: the session retries with backoff. */
struct mqtt_session *mqtt_open(uv_loop_t *loop, const struct mqtt_options *opt,
			       const struct mqtt_handlers *h, void *ctx);

/* Publish with QoS 1. While disconnected the message waits in libmosquitto's queue (bounded).
 * Returns 0 or -1 (logged). */
int mqtt_publish(struct mqtt_session *s, const char *topic, const void *payload, size_t len,
		 int retain);

/* The same with QoS qos (1 or 2), returning the message id in *mid (as handlers.published
 * reports it once the broker has the message: PUBACK, or PUBCOMP for QoS 2). */
int mqtt_publish_mid(struct mqtt_session *s, const char *topic, const void *payload, size_t len,
		     int qos, int retain, int *mid);

/* Drop the connection at once without sending anything still queued, so that the PUBACK of
 * the message being handled never leaves and the broker redelivers it. For use inside
 * handlers.message when the message cannot be kept. Messages that follow on this connection
 * are ignored; the session reconnects with backoff. */
void mqtt_refuse(struct mqtt_session *s, const char *reason);

/* Subscribe with QoS 1. Returns 0 or -1 (logged). */
int mqtt_subscribe(struct mqtt_session *s, const char *pattern);

/* 1 while the broker has accepted the session. */
int mqtt_is_connected(const struct mqtt_session *s);

/* Fill st with what the session has been through. */
void mqtt_get_status(const struct mqtt_session *s, struct mqtt_status *st);

/* Publish last_payload on last_topic (retained), disconnect cleanly, close the session's
 * handles, then call handlers.stopped. Bounded: gives up on the broker after a few seconds. */
void mqtt_stop(struct mqtt_session *s, const char *last_topic, const char *last_payload);

/* Free the session once the loop has run the close callbacks. */
void mqtt_free(struct mqtt_session *s);

#endif
