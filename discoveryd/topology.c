/* topology.c -- read a ZoneGroupState with libxml2: groups, members, satellites; no I/O. */
#include "topology.h"
#include "http_client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define SEARCH_DEPTH 8 /* ZoneGroups sits at depth 1..5 in every shape it comes in */
#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

int
topology_location_ok(const char *ip, unsigned port)
{
	struct in_addr a;
	uint32_t h;

	if (port != 1400 || inet_pton(AF_INET, ip, &a) != 1)
		return 0;
	h = ntohl(a.s_addr);
	return (h >> 24) != 0 && (h >> 28) != 0xE && (h >> 28) != 0xF;
}

int
topology_member_hidden(const struct topology_member *m)
{
	return m->invisible || m->satellite || m->zone_bridge;
}

const struct topology_member *
topology_find(const struct topology *t, const char *uuid)
{
	for (int i = 0; i < t->count; i++)
		if (strcmp(t->members[i].uuid, uuid) == 0)
			return &t->members[i];
	return NULL;
}

int
topology_satellites(const struct topology *t, const char *uuid)
{
	int n = 0;

	for (int i = 0; i < t->count; i++)
		if (topology_member_hidden(&t->members[i]) &&
		    strcmp(t->members[i].owner, uuid) == 0)
			n++;
	return n;
}

/* Copy src into dst: leading and trailing space trimmed, control bytes (newlines inside
 * attribute values) to spaces, truncated on a UTF-8 character boundary. */
static void
topology_copy(char *dst, size_t size, const char *src)
{
	size_t len;

	while (*src != '\0' && isspace((unsigned char)*src))
		src++;
	len = strlen(src);
	while (len > 0 && isspace((unsigned char)src[len - 1]))
		len--;
	if (len > size - 1) {
		len = size - 1;
		/* Back up over continuation bytes, then drop the lead byte they belonged to. */
		while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)dst[i] < ' ' || dst[i] == 127)
			dst[i] = ' ';
}

/* Attribute name of el into dst (trimmed); "" when absent. */
static void
topology_attr(xmlNode *el, const char *name, char *dst, size_t size)
{
	xmlChar *v = xmlGetProp(el, (const xmlChar *)name);

	dst[0] = '\0';
	if (v != NULL) {
		topology_copy(dst, size, (const char *)v);
		xmlFree(v);
	}
}

static int
topology_uuid_ok(const char *uuid)
{
	return uuid[0] != '\0' && strspn(uuid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                       "abcdefghijklmnopqrstuvwxyz"
	                                       "0123456789_-") == strlen(uuid);
}

static int
is_element(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* First element named name at depth <= depth under n (n itself included), or NULL. */
static xmlNode *
topology_find_element(xmlNode *n, const char *name, int depth)
{
	if (n == NULL || depth < 0)
		return NULL;
	if (is_element(n, name))
		return n;
	for (xmlNode *c = n->children; c != NULL; c = c->next) {
		xmlNode *found;

		if (c->type == XML_ELEMENT_NODE &&
		    (found = topology_find_element(c, name, depth - 1)) != NULL)
			return found;
	}
	return NULL;
}

/* Concatenated text and CDATA children of el (entity references are never expanded), or
 * NULL. The caller frees it. */
static char *
topology_text(xmlNode *el, size_t max)
{
	size_t len = 0;
	char *out;

	for (xmlNode *n = el->children; n != NULL; n = n->next)
		if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
		    n->content != NULL)
			len += strlen((const char *)n->content);
	if (len == 0 || len > max || (out = malloc(len + 1)) == NULL)
		return NULL;
	len = 0;
	for (xmlNode *n = el->children; n != NULL; n = n->next)
		if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
		    n->content != NULL) {
			size_t add = strlen((const char *)n->content);

			memcpy(out + len, n->content, add);
			len += add;
		}
	out[len] = '\0';
	return out;
}

/* Parse with libxml2 under this file's rules; a document with a DTD is refused. */
static xmlDoc *
topology_read(const char *buf, size_t len, int recover)
{
	xmlDoc *doc = xmlReadMemory(buf, (int)len, "zonegroupstate.xml", NULL,
	                            XML_OPTIONS | (recover ? XML_PARSE_RECOVER : 0));

	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* Add one member element (ZoneGroupMember or Satellite) of group g to t. */
static void
topology_add(struct topology *t, xmlNode *el, xmlNode *group, const char *owner, int satellite)
{
	struct topology_member m;
	char value[256], host[64], path[256];
	struct in_addr a;
	uint16_t port;
	char *end;
	unsigned long n;

	memset(&m, 0, sizeof(m));
	topology_attr(el, "UUID", m.uuid, sizeof(m.uuid));
	if (!topology_uuid_ok(m.uuid))
		return;
	if (topology_find(t, m.uuid) != NULL) {
		t->duplicates++;
		return;
	}
	if (t->count >= TOPOLOGY_MEMBERS_MAX) {
		t->truncated = 1;
		return;
	}
	topology_attr(el, "ZoneName", m.room, sizeof(m.room));
	topology_attr(group, "ID", m.group_id, sizeof(m.group_id));
	topology_attr(group, "Coordinator", m.coordinator, sizeof(m.coordinator));
	if (!topology_uuid_ok(m.coordinator))
		m.coordinator[0] = '\0';
	topology_attr(el, "Location", value, sizeof(value));
	if (http_url_split(value, host, sizeof(host), &port, path, sizeof(path)) == 0 &&
	    inet_pton(AF_INET, host, &a) == 1) {
		if (topology_location_ok(host, port)) {
			snprintf(m.ip, sizeof(m.ip), "%s", host);
			m.port = port;
		} else {
			t->refused++;
		}
	}
	topology_attr(el, "BootSeq", value, sizeof(value));
	n = strtoul(value, &end, 10);
	if (value[0] != '\0' && *end == '\0' && n <= UINT32_MAX)
		m.bootseq = (uint32_t)n;
	topology_attr(el, "Invisible", value, sizeof(value));
	m.invisible = strcmp(value, "1") == 0;
	topology_attr(el, "IsZoneBridge", value, sizeof(value));
	m.zone_bridge = strcmp(value, "1") == 0;
	m.satellite = (uint8_t)satellite;
	if (owner != NULL)
		snprintf(m.owner, sizeof(m.owner), "%s", owner);
	t->members[t->count++] = m;
}

/* Hidden members of a group that are not satellites (stereo pair halves, subs bonded by
 * ChannelMapSet) belong to the visible member of the same room in their group. */
static void
topology_owners(struct topology *t)
{
	for (int i = 0; i < t->count; i++) {
		struct topology_member *h = &t->members[i];

		if (!topology_member_hidden(h) || h->owner[0] != '\0' || h->zone_bridge)
			continue;
		for (int k = 0; k < t->count; k++) {
			const struct topology_member *v = &t->members[k];

			if (!topology_member_hidden(v) && strcmp(v->group_id, h->group_id) == 0 &&
			    strcmp(v->room, h->room) == 0) {
				memcpy(h->owner, v->uuid, sizeof(h->owner));
				break;
			}
		}
	}
}

static void
topology_groups(struct topology *t, xmlNode *groups)
{
	for (xmlNode *g = groups->children; g != NULL; g = g->next) {
		if (!is_element(g, "ZoneGroup"))
			continue;
		t->groups++;
		for (xmlNode *m = g->children; m != NULL; m = m->next) {
			char uuid[48];

			if (!is_element(m, "ZoneGroupMember"))
				continue;
			topology_add(t, m, g, NULL, 0);
			topology_attr(m, "UUID", uuid, sizeof(uuid));
			for (xmlNode *s = m->children; s != NULL; s = s->next)
				if (is_element(s, "Satellite"))
					topology_add(t, s, g, uuid, 1);
		}
	}
	topology_owners(t);
}

int
topology_parse(const char *body, size_t len, struct topology *t, char *err, size_t errlen)
{
	xmlDoc *outer, *inner = NULL;
	xmlNode *groups, *state;
	char *text = NULL;
	int rv = -1;

	memset(t, 0, sizeof(*t));
	if (len == 0 || len > TOPOLOGY_BODY_MAX) {
		snprintf(err, errlen, "size %zu out of range", len);
		return -1;
	}
	if ((outer = topology_read(body, len, 0)) == NULL) {
		snprintf(err, errlen, "not well-formed XML (or has a DTD)");
		return -1;
	}
	groups = topology_find_element(xmlDocGetRootElement(outer), "ZoneGroups", SEARCH_DEPTH);
	if (groups == NULL) {
		/* The usual shape: the document travels escaped, as the text of <ZoneGroupState>.
		 */
		state = topology_find_element(xmlDocGetRootElement(outer), "ZoneGroupState",
		                              SEARCH_DEPTH);
		if (state == NULL || (text = topology_text(state, TOPOLOGY_BODY_MAX)) == NULL) {
			snprintf(err, errlen, "no ZoneGroupState");
			goto out;
		}
		if ((inner = topology_read(text, strlen(text), 0)) == NULL) {
			/* Seen in captures: a ZoneGroup left unclosed. Read what is there. */
			if ((inner = topology_read(text, strlen(text), 1)) == NULL) {
				snprintf(err, errlen, "ZoneGroupState is not XML");
				goto out;
			}
			t->recovered = 1;
		}
		groups =
		    topology_find_element(xmlDocGetRootElement(inner), "ZoneGroups", SEARCH_DEPTH);
		if (groups == NULL) {
			snprintf(err, errlen, "no ZoneGroups in the ZoneGroupState");
			goto out;
		}
	}
	topology_groups(t, groups);
	if (t->count == 0) {
		snprintf(err, errlen, "no member with a usable UUID");
		goto out;
	}
	rv = 0;
out:
	free(text);
	if (inner != NULL)
		xmlFreeDoc(inner);
	xmlFreeDoc(outer);
	return rv;
}

int
topology_soap_value(const char *body, size_t len, const char *name, char *out, size_t size)
{
	xmlDoc *doc;
	xmlNode *el;
	char *text;
	int rv = -1;

	out[0] = '\0';
	if (len == 0 || len > TOPOLOGY_BODY_MAX || (doc = topology_read(body, len, 0)) == NULL)
		return -1;
	el = topology_find_element(xmlDocGetRootElement(doc), name, SEARCH_DEPTH);
	if (el != NULL) {
		if ((text = topology_text(el, 4096)) != NULL) {
			topology_copy(out, size, text);
			free(text);
		}
		rv = 0;
	}
	xmlFreeDoc(doc);
	return rv;
}
