/* description.c -- read uuid, room and model from a speaker's device description with libxml2. */
#include "description.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

void
description_init(void)
{
	xmlInitParser();
}

void
description_cleanup(void)
{
	xmlCleanupParser();
}

/* First element child of parent named name (local name, any namespace), or NULL. */
static xmlNode *
description_child(xmlNode *parent, const char *name)
{
	for (xmlNode *n = parent != NULL ? parent->children : NULL; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

/* Copy the direct text of element el into dst, trimmed, truncated on a UTF-8 boundary. Only
 * text and CDATA children count: entity references are never expanded here. */
static void
description_text(xmlNode *el, char *dst, size_t size)
{
	size_t len = 0;
	char *start;

	dst[0] = '\0';
	for (xmlNode *n = el != NULL ? el->children : NULL; n != NULL; n = n->next) {
		size_t add;

		if ((n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE) ||
		    n->content == NULL)
			continue;
		add = strlen((const char *)n->content);
		if (add > size - 1 - len)
			add = size - 1 - len;
		memcpy(dst + len, n->content, add);
		len += add;
		dst[len] = '\0';
	}
	/* Do not leave half a multi-byte character at a truncation point. */
	if (len == size - 1) {
		size_t lead = len, want = 1;
		unsigned char c;

		while (lead > 0 && ((unsigned char)dst[lead - 1] & 0xC0) == 0x80)
			lead--;
		if (lead > 0) {
			c = (unsigned char)dst[lead - 1];
			want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
			if (len - (lead - 1) < want)
				len = lead - 1;
		}
		dst[len] = '\0';
	}
	start = dst;
	while (isspace((unsigned char)*start))
		start++;
	len = strlen(start);
	while (len > 0 && isspace((unsigned char)start[len - 1]))
		len--;
	memmove(dst, start, len);
	dst[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)dst[i] < ' ')
			dst[i] = ' '; /* newlines inside a name would break logs and topics */
}

int
description_parse(const char *xml, size_t len, struct speaker_description *d, char *err,
                  size_t errlen)
{
	char udn[96];
	xmlDoc *doc;
	xmlNode *root, *device;
	int rv = -1;

	memset(d, 0, sizeof(*d));
	if (len == 0 || len > DESCRIPTION_MAX) {
		snprintf(err, errlen, "size %zu out of range", len);
		return -1;
	}
	doc = xmlReadMemory(xml, (int)len, "device_description.xml", NULL,
	                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		snprintf(err, errlen, "not well-formed XML");
		return -1;
	}
	/* A description has no DOCTYPE; one that brings a DTD is not from a speaker. */
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		snprintf(err, errlen, "has a DTD");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "root") != 0 ||
	    (device = description_child(root, "device")) == NULL) {
		snprintf(err, errlen, "no root/device element");
		goto out;
	}
	description_text(description_child(device, "UDN"), udn, sizeof(udn));
	if (strncmp(udn, "uuid:", 5) != 0 || udn[5] == '\0' || strlen(udn + 5) >= sizeof(d->uuid) ||
	    strspn(udn + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                    "abcdefghijklmnopqrstuvwxyz"
	                    "0123456789_-") != strlen(udn + 5)) {
		snprintf(err, errlen, "no usable UDN");
		goto out;
	}
	memcpy(d->uuid, udn + 5, strlen(udn + 5) + 1);
	description_text(description_child(device, "roomName"), d->room, sizeof(d->room));
	if (d->room[0] == '\0') {
		snprintf(err, errlen, "%s has no roomName", d->uuid);
		goto out;
	}
	description_text(description_child(device, "modelName"), d->model, sizeof(d->model));
	description_text(description_child(device, "displayName"), d->display_name,
	                 sizeof(d->display_name));
	description_text(description_child(device, "softwareVersion"), d->software_version,
	                 sizeof(d->software_version));
	rv = 0;
out:
	xmlFreeDoc(doc);
	return rv;
}
