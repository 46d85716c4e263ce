/* fuzz_request.c -- MQTT request topics and tts/clip payloads (mqttd/request.c). */
#include "fuzz.h"
#include "request.h"
#include "util.h"

/* First byte: bit 0 selects the topic parser instead of the payload parser, bits 1-2 the
 * request kind (tts, clip, set), bits 4-5 the text limit. The rest is the topic or the
 * payload. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int text_limits[] = {1, 16, 1000, 8000};
	unsigned sel = fuzz_take_byte(&data, &size);

	if (sel & 1) {
		char *topic = fuzz_cstr(data, size), target[MSG_TARGET_MAX];
		enum request_kind kind;

		if (request_topic_parse("sonos", topic, target, &kind) == 0) {
			/* What the parser accepts must be a valid target of the stated kind. */
			if (!request_target_valid(target, strlen(target)) ||
			    (kind != REQUEST_TTS && kind != REQUEST_CLIP && kind != REQUEST_SET))
				abort();
		}
		(void)request_id_valid(topic, strlen(topic));
		free(topic);
	} else {
		static const enum request_kind kinds[] = {REQUEST_TTS, REQUEST_CLIP, REQUEST_SET,
							  REQUEST_TTS};
		struct request_limits lim = {text_limits[(sel >> 4) & 3], 300};
		enum request_kind kind = kinds[(sel >> 1) & 3];
		struct request_result res;
		void *payload = fuzz_copy(data, size);

		if (request_parse(&lim, kind, "kitchen", payload, size, "fallback-1",
				  1700000000000ull, &res) == 0) {
			struct msg_request *r = res.req;

			/* An accepted request honours every promise the bus and playerd rely on. */
			if (r == NULL || res.size != sizeof(*r) + r->text_len || r->kind != kind ||
			    res.size > MSG_MAX_SIZE - sizeof(struct msg_hdr) ||
			    r->text_len == 0 || memchr(r->text, '\0', r->text_len) != NULL ||
			    !util_utf8_valid(r->text, r->text_len) ||
			    memchr(r->id, '\0', sizeof(r->id)) == NULL ||
			    memchr(r->voice, '\0', sizeof(r->voice)) == NULL ||
			    (r->has_volume && (r->volume < 0 || r->volume > 100)) ||
			    r->deadline_ms <= r->received_ms ||
			    (kind == REQUEST_TTS && r->text_len > (size_t)lim.max_text_length))
				abort();
			free(res.req);
		} else if (res.req != NULL || res.reason[0] == '\0') {
			abort(); /* a rejection always says why */
		}
		free(payload);
	}
	return 0;
}
