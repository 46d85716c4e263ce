/* hass.c -- Home Assistant MQTT discovery: per speaker one device whose entities use the
 * bridge's own command and state topics, retained under the discovery prefix. */
#include "hass.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HASS_TOPIC_MAX 512
#define HASS_FILE_MAX (64 * 1024)

/* A speaker whose configurations are (or were) on the broker. */
struct hass_known {
	char uuid[48];
	uint64_t gone_ms;    /* wall clock it left the table; 0 while present */
	char signature[256]; /* room, model and slug as last published; "" = not yet */
};

struct hass {
	int enabled;
	char prefix[CONFIG_STR_MAX];
	char base[CONFIG_STR_MAX];
	char status_topic[CONFIG_STR_MAX + 8];
	char path[CONFIG_STR_MAX + 32]; /* <state_dir>/hass-speakers */
	char version[32];
	uint64_t remove_after_ms;
	hass_publish_fn publish;
	void *ctx;
	struct msg_speaker *table; /* the last table, for republishing */
	size_t table_count;
	struct hass_known known[MSG_SPEAKERS_MAX * 2];
	size_t nknown;
	uint64_t republish_at; /* wall clock ms; 0 = none scheduled */
	uint64_t settled_at;   /* no removals before (discoveryd's first tables) */
};

static const struct {
	const char *component;
	const char *object;
	const char *name;
	const char *icon;
	const char *command; /* buttons: the {"command": ...} word */
} entities[HASS_ENTITIES] = {
    [HASS_ANNOUNCE] = {"notify", "announce", "Announcement", "mdi:bullhorn", NULL},
    [HASS_VOLUME] = {"number", "volume", "Volume", "mdi:volume-high", NULL},
    [HASS_MUTE] = {"switch", "mute", "Mute", "mdi:volume-off", NULL},
    [HASS_PLAY] = {"button", "play", "Play", "mdi:play", "play"},
    [HASS_PAUSE] = {"button", "pause", "Pause", "mdi:pause", "pause"},
    [HASS_NEXT] = {"button", "next", "Next", "mdi:skip-next", "next"},
    [HASS_PREVIOUS] = {"button", "previous", "Previous", "mdi:skip-previous", "previous"},
    [HASS_TRANSPORT] = {"sensor", "transport", "Transport state", "mdi:play-pause", NULL},
    [HASS_TRACK] = {"sensor", "track", "Current track", "mdi:music", NULL},
};

/* Jinja templates Home Assistant renders against the retained <base>/<room>/state document.
 * A template that renders "None" sets the entity to unknown (number: payload_reset; switch
 * and sensor: the None payload), which is what a null field means. */
#define TPL_ANNOUNCE_CMD "{{ {'text': value} | tojson }}"
#define TPL_VOLUME "{{ value_json.volume }}"
#define TPL_VOLUME_CMD "{\"volume\": {{ value | int }}}"
#define TPL_MUTE                                                                                   \
	"{% if value_json.mute is none %}None{% elif value_json.mute %}ON{% else %}OFF{% endif %}"
#define TPL_TRANSPORT "{{ value_json.transport }}"
#define TPL_TRACK                                                                                  \
	"{% set t = value_json.track %}{% if t and t.title %}"                                     \
	"{{ (((t.artist ~ ' - ') if t.artist else '') ~ t.title)[:255] }}"                         \
	"{% else %}None{% endif %}"
#define TPL_TRACK_ATTRS "{{ (value_json.track or {}) | tojson }}"

int
hass_config_topic(const char *prefix, const char *uuid, enum hass_entity e, char *out, size_t size)
{
	int n;

	if ((unsigned)e >= HASS_ENTITIES)
		return -1;
	n = snprintf(out, size, "%s/%s/%s/%s/config", prefix, entities[e].component, uuid,
	             entities[e].object);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Home Assistant's node and object ids allow [a-zA-Z0-9_-] only. */
static int
uuid_usable(const char *uuid)
{
	if (uuid[0] == '\0')
		return 0;
	for (const char *p = uuid; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

static void
set_topic(json_t *o, const char *key, const char *base, const char *slug, const char *leaf)
{
	char topic[HASS_TOPIC_MAX];

	snprintf(topic, sizeof(topic), "%s/%s/%s", base, slug, leaf);
	json_object_set_new(o, key, json_string(topic));
}

char *
hass_config_json(const struct msg_speaker *sp, enum hass_entity e, const char *base,
                 const char *version)
{
	char slug[MSG_TARGET_MAX], id[128], bridge_state[HASS_TOPIC_MAX];
	json_t *o, *dev, *avail;
	char *text;

	if ((unsigned)e >= HASS_ENTITIES || !uuid_usable(sp->uuid) ||
	    util_slug(sp->room, slug, sizeof(slug)) <= 0)
		return NULL;
	o = json_object();
	snprintf(id, sizeof(id), "sonos_bridge_%s_%s", sp->uuid, entities[e].object);
	json_object_set_new(o, "name", json_string(entities[e].name));
	json_object_set_new(o, "unique_id", json_string(id));
	json_object_set_new(o, "icon", json_string(entities[e].icon));

	dev = json_object();
	snprintf(id, sizeof(id), "sonos_bridge_%s", sp->uuid);
	json_object_set_new(dev, "identifiers", json_pack("[s]", id));
	json_object_set_new(dev, "name", json_string(sp->room));
	json_object_set_new(dev, "manufacturer", json_string("Sonos"));
	if (sp->model[0] != '\0')
		json_object_set_new(dev, "model", json_string(sp->model));
	json_object_set_new(o, "device", dev);
	json_object_set_new(o, "origin",
	                    json_pack("{s:s,s:s}", "name", "sonos-bridge", "sw_version", version));

	/* Usable only while both the bridge and this speaker are. */
	snprintf(bridge_state, sizeof(bridge_state), "%s/bridge/state", base);
	avail = json_array();
	json_array_append_new(avail, json_pack("{s:s}", "topic", bridge_state));
	json_array_append_new(avail, json_object());
	set_topic(json_array_get(avail, 1), "topic", base, slug, "availability");
	json_object_set_new(o, "availability", avail);
	json_object_set_new(o, "availability_mode", json_string("all"));
	/* Requests are taken at QoS 1 on a persistent session: ask for the same. */
	json_object_set_new(o, "qos", json_integer(1));

	switch (e) {
	case HASS_ANNOUNCE:
		set_topic(o, "command_topic", base, slug, "tts");
		/* Always JSON: a message that happens to start with '{' is still text to say,
		 * never options (HA renders the template with the message as value). */
		json_object_set_new(o, "command_template", json_string(TPL_ANNOUNCE_CMD));
		break;
	case HASS_VOLUME:
		set_topic(o, "command_topic", base, slug, "set");
		json_object_set_new(o, "command_template", json_string(TPL_VOLUME_CMD));
		set_topic(o, "state_topic", base, slug, "state");
		json_object_set_new(o, "value_template", json_string(TPL_VOLUME));
		json_object_set_new(o, "min", json_integer(0));
		json_object_set_new(o, "max", json_integer(100));
		json_object_set_new(o, "step", json_integer(1));
		json_object_set_new(o, "mode", json_string("slider"));
		break;
	case HASS_MUTE:
		set_topic(o, "command_topic", base, slug, "set");
		json_object_set_new(o, "payload_on", json_string("{\"mute\": true}"));
		json_object_set_new(o, "payload_off", json_string("{\"mute\": false}"));
		set_topic(o, "state_topic", base, slug, "state");
		json_object_set_new(o, "value_template", json_string(TPL_MUTE));
		json_object_set_new(o, "state_on", json_string("ON"));
		json_object_set_new(o, "state_off", json_string("OFF"));
		break;
	case HASS_PLAY:
	case HASS_PAUSE:
	case HASS_NEXT:
	case HASS_PREVIOUS: {
		char press[64];

		snprintf(press, sizeof(press), "{\"command\": \"%s\"}", entities[e].command);
		set_topic(o, "command_topic", base, slug, "set");
		json_object_set_new(o, "payload_press", json_string(press));
		break;
	}
	case HASS_TRANSPORT:
		set_topic(o, "state_topic", base, slug, "state");
		json_object_set_new(o, "value_template", json_string(TPL_TRANSPORT));
		break;
	case HASS_TRACK:
		set_topic(o, "state_topic", base, slug, "state");
		json_object_set_new(o, "value_template", json_string(TPL_TRACK));
		set_topic(o, "json_attributes_topic", base, slug, "state");
		json_object_set_new(o, "json_attributes_template", json_string(TPL_TRACK_ATTRS));
		break;
	case HASS_ENTITIES:
		break;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

/* ---- the speakers with published configurations, and their file -------------------------- */

static struct hass_known *
known_find(struct hass *h, const char *uuid)
{
	for (size_t i = 0; i < h->nknown; i++)
		if (strcmp(h->known[i].uuid, uuid) == 0)
			return &h->known[i];
	return NULL;
}

/* Lines "<uuid> <gone_ms>", written whole to a temporary file and renamed over the old one:
 * a crash leaves the old list or the new one, never half of one. */
static void
known_save(struct hass *h)
{
	char tmp[sizeof(h->path) + 8];
	FILE *f;
	int ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", h->path);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s", tmp);
		return;
	}
	for (size_t i = 0; i < h->nknown; i++)
		fprintf(f, "%s %llu\n", h->known[i].uuid, (unsigned long long)h->known[i].gone_ms);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0 || !ok || rename(tmp, h->path) < 0) {
		log_warn("%s", h->path);
		unlink(tmp);
	}
}

/* Speakers published by an earlier run; a bad line is skipped (the file is ours, but a
 * truncated disk must not stop the bridge). */
static void
known_load(struct hass *h)
{
	char line[160], uuid[64];
	unsigned long long gone;
	FILE *f = fopen(h->path, "r");

	if (f == NULL) {
		if (errno != ENOENT)
			log_warn("%s", h->path);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL && h->nknown < MSG_SPEAKERS_MAX * 2) {
		if (sscanf(line, "%63s %llu", uuid, &gone) != 2 || strlen(uuid) >= 48 ||
		    !uuid_usable(uuid) || known_find(h, uuid) != NULL)
			continue;
		msg_strlcpy(h->known[h->nknown].uuid, uuid, sizeof(h->known[0].uuid));
		h->known[h->nknown].gone_ms = gone;
		h->known[h->nknown].signature[0] = '\0';
		h->nknown++;
	}
	fclose(f);
}

/* ---- publishing ------------------------------------------------------------------------- */

static void
speaker_signature(const struct msg_speaker *sp, char *out, size_t size)
{
	char slug[MSG_TARGET_MAX];

	if (util_slug(sp->room, slug, sizeof(slug)) <= 0)
		slug[0] = '\0';
	snprintf(out, size, "%s\x1f%s\x1f%s", sp->room, sp->model, slug);
}

static void
publish_speaker(struct hass *h, const struct msg_speaker *sp)
{
	char topic[HASS_TOPIC_MAX];

	for (int e = 0; e < HASS_ENTITIES; e++) {
		char *json = hass_config_json(sp, (enum hass_entity)e, h->base, h->version);

		if (json == NULL) {
			log_warnx("%s (%s): no Home Assistant configuration (room name unusable)",
			          sp->room, sp->uuid);
			return;
		}
		if (hass_config_topic(h->prefix, sp->uuid, (enum hass_entity)e, topic,
		                      sizeof(topic)) == 0)
			h->publish(h->ctx, topic, json, strlen(json));
		free(json);
	}
}

static void
remove_speaker(struct hass *h, const char *uuid)
{
	char topic[HASS_TOPIC_MAX];

	for (int e = 0; e < HASS_ENTITIES; e++)
		if (hass_config_topic(h->prefix, uuid, (enum hass_entity)e, topic, sizeof(topic)) ==
		    0)
			h->publish(h->ctx, topic, "", 0);
}

struct hass *
hass_new(const struct config *cfg, const char *version, hass_publish_fn publish, void *ctx,
         uint64_t now_ms)
{
	struct hass *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->publish = publish;
	h->ctx = ctx;
	msg_strlcpy(h->version, version, sizeof(h->version));
	msg_strlcpy(h->base, cfg->base_topic, sizeof(h->base));
	msg_strlcpy(h->prefix, cfg->hass_discovery_prefix, sizeof(h->prefix));
	h->remove_after_ms = (uint64_t)cfg->hass_remove_after_s * 1000;
	h->settled_at = now_ms + HASS_SETTLE_MS;
	snprintf(h->path, sizeof(h->path), "%s/%s", cfg->state_dir, HASS_FILE);
	if (h->prefix[0] == '\0')
		return h;
	if (strpbrk(h->prefix, "+#") != NULL || h->prefix[strlen(h->prefix) - 1] == '/') {
		log_warnx("hass_discovery_prefix '%s' is not a topic prefix; no Home Assistant "
		          "discovery",
		          h->prefix);
		return h;
	}
	snprintf(h->status_topic, sizeof(h->status_topic), "%s/status", h->prefix);
	h->enabled = 1;
	known_load(h);
	return h;
}

void
hass_free(struct hass *h)
{
	if (h == NULL)
		return;
	free(h->table);
	free(h);
}

int
hass_enabled(const struct hass *h)
{
	return h != NULL && h->enabled;
}

const char *
hass_status_topic(const struct hass *h)
{
	return hass_enabled(h) ? h->status_topic : "";
}

void
hass_publish_all(struct hass *h)
{
	if (!hass_enabled(h))
		return;
	h->republish_at = 0;
	for (size_t i = 0; i < h->table_count; i++) {
		struct hass_known *k = known_find(h, h->table[i].uuid);

		publish_speaker(h, &h->table[i]);
		if (k != NULL)
			speaker_signature(&h->table[i], k->signature, sizeof(k->signature));
	}
	if (h->table_count > 0)
		log_info("Home Assistant discovery: %zu speakers published under %s/",
		         h->table_count, h->prefix);
}

int
hass_message(struct hass *h, const char *topic, const void *payload, size_t len, uint64_t now_ms)
{
	if (!hass_enabled(h) || strcmp(topic, h->status_topic) != 0)
		return 0;
	if (len == 6 && memcmp(payload, "online", 6) == 0) {
		/* A short delay, as Home Assistant asks: it subscribes right after its birth. */
		if (h->republish_at == 0)
			h->republish_at = now_ms + HASS_REPUBLISH_DELAY_MS;
		log_info("Home Assistant is online: republishing the discovery configurations");
	}
	return 1;
}

/* Remove the configurations of speakers gone for long enough. Returns 1 if any went. */
static int
remove_due(struct hass *h, uint64_t now_ms, int connected)
{
	size_t i = 0;
	int changed = 0;

	if (!connected || now_ms < h->settled_at)
		return 0;
	while (i < h->nknown) {
		struct hass_known *k = &h->known[i];

		if (k->gone_ms == 0 || now_ms < k->gone_ms + h->remove_after_ms) {
			i++;
			continue;
		}
		log_info("%s: gone since %llu; removed from Home Assistant", k->uuid,
		         (unsigned long long)k->gone_ms);
		remove_speaker(h, k->uuid);
		h->known[i] = h->known[--h->nknown];
		changed = 1;
	}
	return changed;
}

void
hass_speakers(struct hass *h, const struct msg_speaker *sp, size_t n, uint64_t now_ms,
              int connected)
{
	struct msg_speaker *copy = NULL;
	int changed = 0;
	char sig[256];

	if (!hass_enabled(h))
		return;
	if (n > 0 && (copy = malloc(n * sizeof(*copy))) == NULL) {
		log_warnx("out of memory");
		return;
	}
	if (n > 0)
		memcpy(copy, sp, n * sizeof(*copy));
	free(h->table);
	h->table = copy;
	h->table_count = n;

	for (size_t i = 0; i < n; i++) {
		struct hass_known *k = known_find(h, sp[i].uuid);

		if (!uuid_usable(sp[i].uuid))
			continue;
		if (k == NULL) {
			if (h->nknown == sizeof(h->known) / sizeof(h->known[0]))
				continue;
			k = &h->known[h->nknown++];
			memset(k, 0, sizeof(*k));
			msg_strlcpy(k->uuid, sp[i].uuid, sizeof(k->uuid));
			changed = 1;
		}
		if (k->gone_ms != 0) {
			k->gone_ms = 0;
			changed = 1;
		}
		speaker_signature(&sp[i], sig, sizeof(sig));
		if (connected && strcmp(sig, k->signature) != 0) {
			publish_speaker(h, &sp[i]);
			msg_strlcpy(k->signature, sig, sizeof(k->signature));
		}
	}
	for (size_t i = 0; i < h->nknown; i++) {
		struct hass_known *k = &h->known[i];
		size_t j;

		for (j = 0; j < n && strcmp(sp[j].uuid, k->uuid) != 0; j++)
			;
		if (j == n && k->gone_ms == 0) {
			k->gone_ms = now_ms > 0 ? now_ms : 1;
			k->signature[0] = '\0';
			changed = 1;
		}
	}
	changed |= remove_due(h, now_ms, connected);
	if (changed)
		known_save(h);
}

void
hass_tick(struct hass *h, uint64_t now_ms, int connected)
{
	if (!hass_enabled(h) || !connected)
		return;
	if (h->republish_at != 0 && now_ms >= h->republish_at)
		hass_publish_all(h);
	if (remove_due(h, now_ms, connected))
		known_save(h);
}
