/* speakers.c -- the set of room topics (slugs) of a speaker table, for availability. Pure. */
#include "speakers.h"
#include "util.h"

#include <string.h>

void
speakers_slugs(const struct msg_speaker *sp, size_t n, struct speaker_slugs *out)
{
	char slug[MSG_TARGET_MAX];

	out->count = 0;
	for (size_t i = 0; i < n && i < MSG_SPEAKERS_MAX; i++) {
		if (util_slug(sp[i].room, slug, sizeof(slug)) <= 0)
			continue;
		if (!speakers_slugs_has(out, slug))
			speakers_slugs_add(out, slug);
	}
}

int
speakers_slugs_has(const struct speaker_slugs *set, const char *slug)
{
	for (size_t i = 0; i < set->count; i++)
		if (strcmp(set->slug[i], slug) == 0)
			return 1;
	return 0;
}

void
speakers_slugs_add(struct speaker_slugs *set, const char *slug)
{
	if (speakers_slugs_has(set, slug))
		return;
	if (set->count == MSG_SPEAKERS_MAX) {
		memmove(set->slug[0], set->slug[1], (MSG_SPEAKERS_MAX - 1) * sizeof(set->slug[0]));
		set->count--;
	}
	msg_strlcpy(set->slug[set->count++], slug, sizeof(set->slug[0]));
}

void
speakers_slugs_remove(struct speaker_slugs *set, const char *slug)
{
	for (size_t i = 0; i < set->count; i++) {
		if (strcmp(set->slug[i], slug) != 0)
			continue;
		memmove(set->slug[i], set->slug[i + 1], (set->count - i - 1) * sizeof(set->slug[0]));
		set->count--;
		return;
	}
}
