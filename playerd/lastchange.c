/* lastchange.c -- GENA property sets and their LastChange Event documents, parsed with libxml2
 * under the same rules as SOAP answers: no network, no DTD, no entity expansion, bounded. */
#include "lastchange.h"
#include "state.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define LC_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
#define LC_DEPTH_MAX 8 /* propertyset/property/LastChange sit at depth 2 */

/* Parse buf as a document; one with a DTD (internal or external subset) is refused, so no
 * entity can be declared and every attribute and text value is final. */
static xmlDoc *
lc_read(const char *buf, size_t len, const char *name)
{
	xmlDoc *doc;

	if (len == 0 || len > LASTCHANGE_BODY_MAX)
		return NULL;
	doc = xmlReadMemory(buf, (int)len, name, NULL, LC_XML_OPTIONS);
	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int
lc_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* First element named name (local name) at most depth levels below n's children. */
static xmlNode *
lc_find(xmlNode *n, const char *name, int depth)
{
	if (depth < 0)
		return NULL;
	for (xmlNode *c = n->children; c != NULL; c = c->next) {
		xmlNode *found;

		if (lc_is(c, name))
			return c;
		if (c->type == XML_ELEMENT_NODE && (found = lc_find(c, name, depth - 1)) != NULL)
			return found;
	}
	return NULL;
}

/* Text and CDATA children of el, concatenated, malloc'ed; NULL when empty or above max. */
static char *
lc_text(const xmlNode *el, size_t max, size_t *outlen)
{
	size_t len = 0;
	char *out;

	for (const xmlNode *n = el->children; n != NULL; n = n->next)
		if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
		    n->content != NULL) {
			len += strlen((const char *)n->content);
			if (len > max)
				return NULL;
		}
	if (len == 0 || (out = malloc(len + 1)) == NULL)
		return NULL;
	len = 0;
	for (const xmlNode *n = el->children; n != NULL; n = n->next)
		if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
		    n->content != NULL) {
			size_t add = strlen((const char *)n->content);

			memcpy(out + len, n->content, add);
			len += add;
		}
	out[len] = '\0';
	*outlen = len;
	return out;
}

/* Copy attribute name of el into out when present and shorter than size. Returns 1 when
 * copied, 0 when absent or too long (a value is never truncated). */
static int
lc_attr(xmlNode *el, const char *name, char *out, size_t size)
{
	xmlChar *v = xmlGetProp(el, (const xmlChar *)name);
	size_t len;

	if (v == NULL)
		return 0;
	len = strlen((const char *)v);
	if (len >= size) {
		xmlFree(v);
		return 0;
	}
	memcpy(out, v, len + 1);
	xmlFree(v);
	return 1;
}

/* A decimal integer in [lo, hi], nothing else. */
static int
lc_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	if (*s == '\0' || strlen(s) > 10)
		return 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return 0;
	*out = (int)v;
	return 1;
}

/* Printable ASCII word (TransportState and the like): no controls, no spaces. */
static int
lc_word(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* CurrentTrackMetaData: DIDL-Lite, escaped once inside the Event. Empty or NOT_IMPLEMENTED
 * is known-empty; anything that is not DIDL-Lite is known-empty too (a malformed track
 * description should not hide the rest of the event). A DTD never reaches libxml2. */
static void
lc_meta(xmlNode *el, struct lastchange *out)
{
	xmlChar *v = xmlGetProp(el, (const xmlChar *)"val");
	size_t len;

	if (v == NULL)
		return;
	out->have |= LC_META;
	len = strlen((const char *)v);
	if (len > 0 && len <= LASTCHANGE_BODY_MAX && strstr((const char *)v, "<!DOCTYPE") == NULL &&
	    didl_parse_track((const char *)v, len, &out->meta) < 0)
		memset(&out->meta, 0, sizeof(out->meta));
	xmlFree(v);
}

/* One state variable of the InstanceID element. */
static void
lc_variable(xmlNode *el, struct lastchange *out)
{
	const char *name = (const char *)el->name;
	char val[1024], channel[16];

	if (strcmp(name, "CurrentTrackMetaData") == 0) {
		lc_meta(el, out);
		return;
	}
	if (!lc_attr(el, "val", val, sizeof(val)))
		return;
	if (strcmp(name, "TransportState") == 0) {
		if (strlen(val) < sizeof(out->transport) && lc_word(val)) {
			memcpy(out->transport, val, strlen(val) + 1);
			out->have |= LC_TRANSPORT;
		}
	} else if (strcmp(name, "AVTransportURI") == 0) {
		memcpy(out->uri, val, strlen(val) + 1);
		out->have |= LC_URI;
	} else if (strcmp(name, "CurrentTrackURI") == 0) {
		memcpy(out->track_uri, val, strlen(val) + 1);
		out->have |= LC_TRACK_URI;
	} else if (strcmp(name, "CurrentTrack") == 0) {
		if (lc_int(val, 0, 1000000, &out->track))
			out->have |= LC_TRACK;
	} else if (strcmp(name, "CurrentTrackDuration") == 0) {
		if (strlen(val) < sizeof(out->duration) && lc_word(val) &&
		    strcmp(val, "NOT_IMPLEMENTED") != 0) {
			memcpy(out->duration, val, strlen(val) + 1);
			out->have |= LC_DURATION;
		} else if (val[0] == '\0' || strcmp(val, "NOT_IMPLEMENTED") == 0) {
			out->duration[0] = '\0';
			out->have |= LC_DURATION;
		}
	} else if (strcmp(name, "CurrentPlayMode") == 0) {
		if (strlen(val) < sizeof(out->play_mode) && lc_word(val)) {
			memcpy(out->play_mode, val, strlen(val) + 1);
			out->have |= LC_PLAY_MODE;
		}
	} else if (strcmp(name, "Volume") == 0 || strcmp(name, "Mute") == 0) {
		/* Only the Master channel; LF and RF are the balance. */
		if (!lc_attr(el, "channel", channel, sizeof(channel)) ||
		    strcmp(channel, "Master") != 0)
			return;
		if (name[0] == 'V' && lc_int(val, 0, 100, &out->volume))
			out->have |= LC_VOLUME;
		else if (name[0] == 'M' && lc_int(val, 0, 1, &out->mute))
			out->have |= LC_MUTE;
	}
}

/* The Event document inside LastChange: <Event><InstanceID val="0">variables</InstanceID>. */
static int
lc_event(const char *text, size_t len, struct lastchange *out, char *err, size_t errlen)
{
	xmlDoc *doc = lc_read(text, len, "lastchange.xml");
	xmlNode *root, *inst = NULL;
	char id[16];
	int n = 0;

	if (doc == NULL) {
		snprintf(err, errlen, "LastChange is not a well-formed document without a DTD");
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || !lc_is(root, "Event")) {
		snprintf(err, errlen, "LastChange holds <%.40s>, not <Event>",
		         root != NULL ? (const char *)root->name : "");
		xmlFreeDoc(doc);
		return -1;
	}
	for (xmlNode *c = root->children; c != NULL && inst == NULL; c = c->next)
		if (lc_is(c, "InstanceID") && lc_attr(c, "val", id, sizeof(id)) &&
		    strcmp(id, "0") == 0)
			inst = c;
	for (xmlNode *c = inst != NULL ? inst->children : NULL;
	     c != NULL && n < LASTCHANGE_VARS_MAX; c = c->next)
		if (c->type == XML_ELEMENT_NODE) {
			lc_variable(c, out);
			n++;
		}
	xmlFreeDoc(doc);
	return 0;
}

int
lastchange_parse(const char *body, size_t len, struct lastchange *out, char *err, size_t errlen)
{
	xmlDoc *doc;
	xmlNode *root, *lc;
	char *text;
	size_t tlen = 0;
	int rv;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > LASTCHANGE_BODY_MAX) {
		snprintf(err, errlen, "body of %zu bytes", len);
		return -1;
	}
	if ((doc = lc_read(body, len, "propertyset.xml")) == NULL) {
		snprintf(err, errlen, "not a well-formed document without a DTD");
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || !lc_is(root, "propertyset")) {
		snprintf(err, errlen, "root <%.40s>, not <propertyset>",
		         root != NULL ? (const char *)root->name : "");
		xmlFreeDoc(doc);
		return -1;
	}
	if ((lc = lc_find(root, "LastChange", LC_DEPTH_MAX)) == NULL) {
		xmlFreeDoc(doc);
		return 0;
	}
	text = lc_text(lc, LASTCHANGE_BODY_MAX, &tlen);
	xmlFreeDoc(doc);
	if (text == NULL) {
		snprintf(err, errlen, "LastChange is empty");
		return -1;
	}
	rv = lc_event(text, tlen, out, err, errlen);
	free(text);
	if (rv < 0)
		memset(out, 0, sizeof(*out));
	return rv;
}

void
lastchange_merge(struct lastchange *dst, const struct lastchange *src)
{
	if (src->have & LC_TRANSPORT)
		memcpy(dst->transport, src->transport, sizeof(dst->transport));
	if (src->have & LC_URI)
		memcpy(dst->uri, src->uri, sizeof(dst->uri));
	if (src->have & LC_TRACK_URI)
		memcpy(dst->track_uri, src->track_uri, sizeof(dst->track_uri));
	if (src->have & LC_TRACK)
		dst->track = src->track;
	if (src->have & LC_DURATION)
		memcpy(dst->duration, src->duration, sizeof(dst->duration));
	if (src->have & LC_META)
		dst->meta = src->meta;
	if (src->have & LC_PLAY_MODE)
		memcpy(dst->play_mode, src->play_mode, sizeof(dst->play_mode));
	if (src->have & LC_VOLUME)
		dst->volume = src->volume;
	if (src->have & LC_MUTE)
		dst->mute = src->mute;
	dst->have |= src->have;
}

void
lastchange_apply(const struct lastchange *lc, struct speaker_state *st)
{
	int track_changed = 0;

	if (lc->have & LC_TRANSPORT)
		memcpy(st->transport, lc->transport, sizeof(st->transport));
	if (lc->have & LC_URI)
		st->source = source_classify(lc->uri);
	if ((lc->have & LC_TRACK) && lc->track != st->track) {
		st->track = lc->track;
		track_changed = 1;
	}
	if (lc->have & LC_DURATION)
		memcpy(st->duration, lc->duration, sizeof(st->duration));
	if (lc->have & LC_META) {
		if (strcmp(lc->meta.title, st->meta.title) != 0)
			track_changed = 1;
		st->meta = lc->meta;
	}
	if (track_changed)
		st->position[0] = '\0';
	if (lc->have & LC_VOLUME) {
		st->have_volume = 1;
		st->volume = lc->volume;
	}
	if (lc->have & LC_MUTE) {
		st->have_mute = 1;
		st->mute = lc->mute;
	}
}
