/* hass.h -- Home Assistant MQTT discovery: one device per speaker (announcement, volume, mute,
 * transport buttons, state sensors), retained under the discovery prefix, republished when Home
 * Assistant comes online, removed when a speaker has left the household. No broker I/O here:
 * publishes go through a callback, so the unit tests see exactly what would be sent. */
#ifndef MQTTD_HASS_H
#define MQTTD_HASS_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct config;
struct strbuf;

/* Publish payload (retained, QoS 1) on topic; an empty payload removes a retained message. */
typedef void (*hass_publish_fn)(void *ctx, const char *topic, const char *payload, size_t len);

/* The entities of a speaker's device, in publishing order. */
enum hass_entity {
	HASS_ANNOUNCE, /* notify: text to <base>/<room>/tts */
	HASS_VOLUME,   /* number 0..100: {"volume": N} to <base>/<room>/set */
	HASS_MUTE,     /* switch: {"mute": true|false} */
	HASS_PLAY,     /* buttons: {"command": ...} */
	HASS_PAUSE,
	HASS_NEXT,
	HASS_PREVIOUS,
	HASS_TRANSPORT, /* sensor: transport state */
	HASS_TRACK,     /* sensor: "artist - title", the track as attributes */
	HASS_ENTITIES
};

#define HASS_REPUBLISH_DELAY_MS 500 /* after Home Assistant's birth message */
#define HASS_FILE "hass-speakers"   /* in state_dir: speakers with published configurations */
/* No removal in the first seconds: a discoveryd that has just started may not list every
 * speaker yet. */
#define HASS_SETTLE_MS 10000

struct hass;

/* Set up from cfg (hass_discovery_prefix; "" disables discovery: then every call is a no-op
 * and hass_new still returns an object). Reads <state_dir>/hass-speakers, the speakers whose
 * configurations were published before, so that one that left while the bridge was down is
 * still removed. Times here and below are wall clock ms (the file keeps them across runs).
 * Returns NULL only on ENOMEM. */
struct hass *hass_new(const struct config *cfg, const char *version, hass_publish_fn publish,
                      void *ctx, uint64_t now_ms);
void hass_free(struct hass *h);

/* 1 when discovery is on. */
int hass_enabled(const struct hass *h);

/* Home Assistant's status topic, "<prefix>/status", to subscribe to ("" when disabled). */
const char *hass_status_topic(const struct hass *h);

/* Every (re)connect: the configurations of every known speaker. */
void hass_publish_all(struct hass *h);

/* A message on the broker: when it is Home Assistant's status saying "online", schedule a
 * republish (hass_tick sends it). Returns 1 when the topic was Home Assistant's status (the
 * caller then ignores it), else 0. */
int hass_message(struct hass *h, const char *topic, const void *payload, size_t len,
                 uint64_t now_ms);

/* A new speaker table: configurations for speakers that are new or changed (room, model),
 * removal (empty retained payloads) of those gone longer than hass_remove_after_s. Publishes
 * only when connected (hass_publish_all catches up). */
void hass_speakers(struct hass *h, const struct msg_speaker *sp, size_t n, uint64_t now_ms,
                   int connected);

/* Once a second: a scheduled republish, removals that came due. */
void hass_tick(struct hass *h, uint64_t now_ms, int connected);

/* Pure: the config topic of an entity of speaker uuid: <prefix>/<component>/<uuid>/<object>/config.
 * Returns 0, or -1 when it does not fit. */
int hass_config_topic(const char *prefix, const char *uuid, enum hass_entity e, char *out,
                      size_t size);

/* Pure: the discovery payload (JSON) of entity e of speaker sp, whose topics live under
 * base (the bridge's base_topic). Returns a malloc'ed string, NULL on ENOMEM or a room without
 * a usable slug. */
char *hass_config_json(const struct msg_speaker *sp, enum hass_entity e, const char *base,
                       const char *version);

#endif
