/* fuzz_msg.c -- bus messages (common/msg.c msg_check): whatever reaches a socket in the
 * runtime directory must be rejected or be safe to read as its declared type. */
#include "fuzz.h"
#include "msg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct msg_hdr *hdr;
	const void *payload;
	char err[160] = "";
	void *buf = fuzz_copy(data, size);
	volatile size_t sink = 0;

	if (msg_check(buf, size, &hdr, &payload, err, sizeof(err)) == 0) {
		/* Read what a receiver reads; ASan reports any byte outside the message. */
		switch (hdr->type) {
		case MSG_REQUEST: {
			const struct msg_request *r = payload;

			sink += strlen(r->id) + strlen(r->target) + strlen(r->voice);
			if (r->text_len > 0)
				sink += (unsigned char)r->text[r->text_len - 1];
			break;
		}
		case MSG_CLIP_REQUEST: {
			const struct msg_clip_request *c = payload;

			sink += strlen(c->voice);
			if (c->text_len > 0)
				sink += (unsigned char)c->text[c->text_len - 1];
			break;
		}
		case MSG_SPEAKERS: {
			const struct msg_speakers *t = payload;

			for (uint32_t i = 0; i < t->count; i++)
				sink += strlen(t->speakers[i].uuid) + strlen(t->speakers[i].room) +
					strlen(t->speakers[i].ip) + strlen(t->speakers[i].model);
			break;
		}
		case MSG_EVENT: {
			const struct msg_event *e = payload;

			sink += strlen(e->id) + strlen(e->error) + strlen(e->speaker);
			break;
		}
		default:
			break;
		}
		(void)msg_type_name(hdr->type);
	} else if (err[0] == '\0') {
		abort();
	}
	(void)sink;
	free(buf);
	return 0;
}
