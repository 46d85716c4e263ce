/* test_hass.c -- Home Assistant discovery in mqttd: the configuration documents, and what is
 * published (and removed) as speakers come and go, Home Assistant restarts and mqttd restarts. */
#include "check.h"
#include "config.h"
#include "hass.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXPUB 256

static struct {
	char topic[MAXPUB][256];
	size_t len[MAXPUB];
	int n;
} pub;

static void
fake_publish(void *ctx, const char *topic, const char *payload, size_t len)
{
	(void)ctx;
	(void)payload;
	if (pub.n < MAXPUB) {
		snprintf(pub.topic[pub.n], sizeof(pub.topic[0]), "%s", topic);
		pub.len[pub.n] = len;
		pub.n++;
	}
}

/* Publishes since the last call: total, and how many were removals (empty payloads). */
static int
published(int *removals)
{
	int n = pub.n, r = 0;

	for (int i = 0; i < n; i++)
		r += pub.len[i] == 0;
	if (removals != NULL)
		*removals = r;
	pub.n = 0;
	return n;
}

static struct msg_speaker
speaker(const char *uuid, const char *room)
{
	struct msg_speaker sp;

	memset(&sp, 0, sizeof(sp));
	snprintf(sp.uuid, sizeof(sp.uuid), "%s", uuid);
	snprintf(sp.room, sizeof(sp.room), "%s", room);
	snprintf(sp.model, sizeof(sp.model), "Sonos One");
	snprintf(sp.ip, sizeof(sp.ip), "192.168.1.20");
	sp.port = 1400;
	return sp;
}

static void
test_documents(void)
{
	struct msg_speaker sp = speaker("RINCON_000E5800000201400", "Kid's Room (2)");
	char topic[256];
	json_t *doc;
	char *text;

	CHECK_INT(hass_config_topic("homeassistant", sp.uuid, HASS_VOLUME, topic, sizeof(topic)),
	          0);
	CHECK_STR(topic, "homeassistant/number/RINCON_000E5800000201400/volume/config");
	CHECK_INT(hass_config_topic("homeassistant", sp.uuid, HASS_ENTITIES, topic, sizeof(topic)),
	          -1);
	CHECK_INT(hass_config_topic("homeassistant", sp.uuid, HASS_PLAY, topic, 20), -1);

	text = hass_config_json(&sp, HASS_VOLUME, "sonos", "1.2.3");
	CHECK(text != NULL);
	doc = json_loads(text, 0, NULL);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "command_topic")),
	          "sonos/kid-s-room-2/set");
	CHECK_STR(json_string_value(json_object_get(doc, "state_topic")),
	          "sonos/kid-s-room-2/state");
	CHECK_STR(json_string_value(json_object_get(doc, "unique_id")),
	          "sonos_bridge_RINCON_000E5800000201400_volume");
	CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "device"), "name")),
	          "Kid's Room (2)");
	CHECK_STR(json_string_value(json_object_get(doc, "availability_mode")), "all");
	CHECK_STR(json_string_value(json_object_get(
	              json_array_get(json_object_get(doc, "availability"), 1), "topic")),
	          "sonos/kid-s-room-2/availability");
	CHECK_INT(json_integer_value(json_object_get(doc, "max")), 100);
	json_decref(doc);
	free(text);

	/* Every entity is a JSON object; buttons send {"command": ...}. */
	for (int e = 0; e < HASS_ENTITIES; e++) {
		text = hass_config_json(&sp, (enum hass_entity)e, "sonos", "1.2.3");
		doc = text ? json_loads(text, 0, NULL) : NULL;
		CHECK(json_is_object(doc));
		json_decref(doc);
		free(text);
	}
	text = hass_config_json(&sp, HASS_NEXT, "sonos", "1");
	CHECK(text != NULL &&
	      strstr(text, "\"payload_press\":\"{\\\"command\\\": \\\"next\\\"}\"") != NULL);
	free(text);

	/* A room without a usable slug, a uuid Home Assistant would refuse: no document. */
	sp = speaker("RINCON_1", "???");
	CHECK(hass_config_json(&sp, HASS_MUTE, "sonos", "1") == NULL);
	sp = speaker("RINCON/1", "Kitchen");
	CHECK(hass_config_json(&sp, HASS_MUTE, "sonos", "1") == NULL);
	sp = speaker("RINCON_1", "Kitchen");
	CHECK(hass_config_json(&sp, HASS_ENTITIES, "sonos", "1") == NULL);
}

static void
test_lifecycle(const char *dir)
{
	struct config cfg;
	struct msg_speaker two[2] = {speaker("RINCON_A", "Kitchen"), speaker("RINCON_B", "Den")};
	struct hass *h;
	uint64_t t = 1700000000000ull;
	int removed;

	config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
	cfg.hass_remove_after_s = 60;
	h = hass_new(&cfg, "1", fake_publish, NULL, t);
	CHECK(hass_enabled(h));
	CHECK_STR(hass_status_topic(h), "homeassistant/status");

	/* Not connected: nothing yet; at connect, everything. */
	hass_speakers(h, two, 2, t, 0);
	CHECK_INT(published(NULL), 0);
	hass_publish_all(h);
	CHECK_INT(published(NULL), 2 * HASS_ENTITIES);
	/* The same table again: nothing; a rename: that speaker again. */
	hass_speakers(h, two, 2, t + 1000, 1);
	CHECK_INT(published(NULL), 0);
	snprintf(two[1].room, sizeof(two[1].room), "Study");
	hass_speakers(h, two, 2, t + 2000, 1);
	CHECK_INT(published(NULL), HASS_ENTITIES);

	/* Home Assistant's birth: a republish at the next tick after the delay; its will and
	 * other topics are not ours to act on. */
	CHECK_INT(hass_message(h, "homeassistant/status", "offline", 7, t + 3000), 1);
	CHECK_INT(hass_message(h, "sonos/kitchen/tts", "online", 6, t + 3000), 0);
	CHECK_INT(hass_message(h, "homeassistant/status", "online", 6, t + 3000), 1);
	hass_tick(h, t + 3000 + HASS_REPUBLISH_DELAY_MS - 1, 1);
	CHECK_INT(published(NULL), 0);
	hass_tick(h, t + 3000 + HASS_REPUBLISH_DELAY_MS, 1);
	CHECK_INT(published(NULL), 2 * HASS_ENTITIES);
	hass_tick(h, t + 5000, 1);
	CHECK_INT(published(NULL), 0);

	/* B leaves: removed only after hass_remove_after_s. */
	hass_speakers(h, two, 1, t + 20000, 1);
	CHECK_INT(published(NULL), 0);
	hass_tick(h, t + 79000, 1);
	CHECK_INT(published(NULL), 0);
	hass_tick(h, t + 80000, 1);
	CHECK_INT(published(&removed), HASS_ENTITIES);
	CHECK_INT(removed, HASS_ENTITIES);
	hass_tick(h, t + 90000, 1);
	CHECK_INT(published(NULL), 0);

	/* A leaves while mqttd is down: the next mqttd removes it once due, not before it has
	 * settled (discoveryd's first tables may still be short). */
	hass_free(h);
	h = hass_new(&cfg, "1", fake_publish, NULL, t + 100000);
	hass_speakers(h, NULL, 0, t + 100000, 1);
	hass_tick(h, t + 159999, 1);
	CHECK_INT(published(NULL), 0);
	hass_tick(h, t + 160000, 1);
	CHECK_INT(published(&removed), HASS_ENTITIES);
	CHECK_INT(removed, HASS_ENTITIES);
	hass_free(h);

	/* remove_after 0: at once, but still not in the settling time after the start. */
	cfg.hass_remove_after_s = 0;
	h = hass_new(&cfg, "1", fake_publish, NULL, t);
	hass_speakers(h, two, 2, t, 1);
	CHECK_INT(published(NULL), 2 * HASS_ENTITIES);
	hass_speakers(h, two, 1, t + 1000, 1);
	CHECK_INT(published(NULL), 0);
	hass_speakers(h, two, 1, t + HASS_SETTLE_MS, 1);
	CHECK_INT(published(&removed), HASS_ENTITIES);
	CHECK_INT(removed, HASS_ENTITIES);
	/* Back again: published again. */
	hass_speakers(h, two, 2, t + HASS_SETTLE_MS + 1000, 1);
	CHECK_INT(published(&removed), HASS_ENTITIES);
	CHECK_INT(removed, 0);
	hass_free(h);
}

static void
test_off(const char *dir)
{
	struct config cfg;
	struct msg_speaker one = speaker("RINCON_A", "Kitchen");
	struct hass *h;

	config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
	cfg.hass_discovery_prefix[0] = '\0';
	h = hass_new(&cfg, "1", fake_publish, NULL, 1);
	CHECK(!hass_enabled(h));
	CHECK_STR(hass_status_topic(h), "");
	hass_speakers(h, &one, 1, 2, 1);
	hass_publish_all(h);
	CHECK_INT(hass_message(h, "homeassistant/status", "online", 6, 3), 0);
	CHECK_INT(published(NULL), 0);
	hass_free(h);
	/* A prefix with wildcards is no prefix: off, with a warning. */
	snprintf(cfg.hass_discovery_prefix, sizeof(cfg.hass_discovery_prefix), "ha/#");
	h = hass_new(&cfg, "1", fake_publish, NULL, 1);
	CHECK(!hass_enabled(h));
	hass_free(h);
}

int
main(void)
{
	char dir[] = "/tmp/sbhassXXXXXX", path[64];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_documents();
	test_lifecycle(dir);
	test_off(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, HASS_FILE);
	unlink(path);
	rmdir(dir);
	CHECK_DONE();
}
