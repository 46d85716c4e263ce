/* didl.c -- DIDL-Lite item metadata, the form SetAVTransportURI's metadata argument takes. */
#include "didl.h"

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
