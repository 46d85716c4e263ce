/* mqtt.h -- the broker session: libmosquitto driven by a libuv loop, with its own reconnects. */
#ifndef MQTTD_MQTT_H
#define MQTTD_MQTT_H

#include <stddef.h>
#include <uv.h>

struct mosquitto_message;
struct mqtt_session;

struct mqtt_options {
	const char *host;
	int port;
	const char *client_id;  /* stable across restarts; the session is not clean */
	const char *will_topic; /* retained QoS 1 will */
	const char *will_payload;
	int keepalive_s;
};

struct mqtt_handlers {
	/* The broker accepted the session: subscribe and republish retained state here. */
	void (*connected)(void *ctx);
	/* A message arrived. Its QoS 1 PUBACK leaves only after this returns. */
	void (*message)(void *ctx, const struct mosquitto_message *m);
	/* mqtt_stop is done with the broker and has closed the session's handles. */
	void (*stopped)(void *ctx);
};

/* Create the session and start connecting. Returns NULL (logged) when libmosquitto cannot be
 * set up. Connection failures are not errors: the session retries with backoff. */
struct mqtt_session *mqtt_open(uv_loop_t *loop, const struct mqtt_options *opt,
			       const struct mqtt_handlers *h, void *ctx);

/* Publish with QoS 1. While disconnected the message waits in libmosquitto's queue (bounded).
 * Returns 0 or -1 (logged). */
int mqtt_publish(struct mqtt_session *s, const char *topic, const void *payload, size_t len,
		 int retain);

/* Subscribe with QoS 1. Returns 0 or -1 (logged). */
int mqtt_subscribe(struct mqtt_session *s, const char *pattern);

/* 1 while the broker has accepted the session. */
int mqtt_is_connected(const struct mqtt_session *s);

/* Publish last_payload on last_topic (retained), disconnect cleanly, close the session's
 * handles, then call handlers.stopped. Bounded: gives up on the broker after a few seconds. */
void mqtt_stop(struct mqtt_session *s, const char *last_topic, const char *last_payload);

/* Free the session once the loop has run the close callbacks. */
void mqtt_free(struct mqtt_session *s);

#endif
