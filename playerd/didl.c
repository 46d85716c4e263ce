/* didl.c -- DIDL-Lite item metadata, the form SetAVTransportURI's metadata argument takes. */
#include "didl.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define DIDL_MAX (64 * 1024)

int
didl_clip(struct strbuf *out, const char *url, const char *title, const char *mime)
{
	strbuf_puts(out, "<DIDL-Lite xmlns:dc=\"http://purl.org/dc/elements/1.1/\" "
			 "xmlns:upnp=\"urn:schemas-upnp-org:metadata-1-0/upnp/\" "
			 "xmlns:r=\"urn:schemas-rinconnetworks-com:metadata-1-0/\" "
			 "xmlns=\"urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/\">"
			 "<item id=\"sonos-bridge-clip\" parentID=\"-1\" restricted=\"true\">"
			 "<dc:title>");
	strbuf_xml_escape(out, title);
	strbuf_puts(out, "</dc:title><upnp:class>object.item.audioItem.musicTrack</upnp:class>"
			 "<res protocolInfo=\"http-get:*:");
	strbuf_xml_escape(out, mime);
	strbuf_puts(out, ":*\">");
	strbuf_xml_escape(out, url);
	strbuf_puts(out, "</res></item></DIDL-Lite>");
	return out->failed ? -1 : 0;
}

/* Copy the text of the first element named `name` under n (depth-first, bounded). */
static int
first_text(xmlNode *n, const char *name, char *out, size_t size, int depth)
{
	for (; n != NULL && depth < 16; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)n->name, name) == 0) {
			xmlChar *t = xmlNodeGetContent(n);
			size_t len = t != NULL ? strlen((const char *)t) : 0;

			if (len >= size)
				len = size - 1;
			/* cut on a UTF-8 character boundary */
			while (len > 0 && t != NULL && (t[len] & 0xc0) == 0x80)
				len--;
			if (t != NULL)
				memcpy(out, t, len);
			out[len] = '\0';
			xmlFree(t);
			return 1;
		}
		if (first_text(n->children, name, out, size, depth + 1))
			return 1;
	}
	return 0;
}

int
didl_parse_track(const char *xml, size_t len, struct didl_track *out)
{
	xmlDoc *doc;
	xmlNode *root;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > DIDL_MAX)
		return -1;
	doc = xmlReadMemory(xml, (int)len, "didl.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return -1;
	/* A DOCTYPE could declare entities that xmlNodeGetContent expands (quadratic blowup);
	 * real metadata never has one. */
	root = doc->intSubset == NULL && doc->extSubset == NULL ? xmlDocGetRootElement(doc) : NULL;
	if (root == NULL || strcmp((const char *)root->name, "DIDL-Lite") != 0) {
		xmlFreeDoc(doc);
		return -1;
	}
	first_text(root, "title", out->title, sizeof(out->title), 0);
	first_text(root, "creator", out->artist, sizeof(out->artist), 0);
	first_text(root, "album", out->album, sizeof(out->album), 0);
	first_text(root, "streamContent", out->stream_content, sizeof(out->stream_content), 0);
	xmlFreeDoc(doc);
	return 0;
}
