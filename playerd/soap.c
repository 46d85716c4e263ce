/* soap.c -- SOAP envelopes for Sonos control and the parsing of answers and UPnP faults. */
#include "soap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

static const struct {
	const char *name, *path, *type;
} soap_services[] = {
	[SOAP_AVTRANSPORT] = {"AVTransport", "/MediaRenderer/AVTransport/Control",
			      "urn:schemas-upnp-org:service:AVTransport:1"},
	[SOAP_RENDERING] = {"RenderingControl", "/MediaRenderer/RenderingControl/Control",
			    "urn:schemas-upnp-org:service:RenderingControl:1"},
	[SOAP_GROUP_RENDERING] = {"GroupRenderingControl",
				  "/MediaRenderer/GroupRenderingControl/Control",
				  "urn:schemas-upnp-org:service:GroupRenderingControl:1"},
	[SOAP_TOPOLOGY] = {"ZoneGroupTopology", "/ZoneGroupTopology/Control",
			   "urn:schemas-upnp-org:service:ZoneGroupTopology:1"},
	[SOAP_DEVICE_PROPERTIES] = {"DeviceProperties", "/DeviceProperties/Control",
				    "urn:schemas-upnp-org:service:DeviceProperties:1"},
};

const char *
soap_service_name(enum soap_service svc)
{
	return soap_services[svc].name;
}

const char *
soap_service_path(enum soap_service svc)
{
	return soap_services[svc].path;
}

const char *
soap_service_type(enum soap_service svc)
{
	return soap_services[svc].type;
}

int
soap_build(struct strbuf *out, enum soap_service svc, const char *action,
	   const struct soap_arg *args, int nargs)
{
	strbuf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
			 "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
			 "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">"
			 "<s:Body>");
	strbuf_printf(out, "<u:%s xmlns:u=\"%s\">", action, soap_services[svc].type);
	for (int i = 0; i < nargs; i++) {
		strbuf_printf(out, "<%s>", args[i].name);
		strbuf_xml_escape(out, args[i].value);
		strbuf_printf(out, "</%s>", args[i].name);
	}
	strbuf_printf(out, "</u:%s></s:Body></s:Envelope>", action);
	return out->failed ? -1 : 0;
}

/* First element named `name` (local name) in a depth-first walk from n. */
static xmlNode *
find_element(xmlNode *n, const char *name, int depth)
{
	if (depth > 32)
		return NULL;
	for (; n != NULL; n = n->next) {
		xmlNode *found;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)n->name, name) == 0)
			return n;
		if ((found = find_element(n->children, name, depth + 1)) != NULL)
			return found;
	}
	return NULL;
}

static void
collect_values(xmlNode *resp, struct soap_result *res)
{
	for (xmlNode *c = resp->children; c != NULL && res->nvalues < SOAP_MAX_VALUES;
	     c = c->next) {
		xmlChar *text;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		text = xmlNodeGetContent(c);
		res->names[res->nvalues] = strdup((const char *)c->name);
		res->values[res->nvalues] = strdup(text != NULL ? (const char *)text : "");
		xmlFree(text);
		if (res->names[res->nvalues] == NULL || res->values[res->nvalues] == NULL) {
			free(res->names[res->nvalues]);
			free(res->values[res->nvalues]);
			break;
		}
		res->nvalues++;
	}
}

int
soap_parse(const char *body, size_t len, const char *action, struct soap_result *res)
{
	char want[128];
	xmlDoc *doc;
	xmlNode *root, *n;
	int rv = -1;

	memset(res, 0, sizeof(*res));
	if (len == 0 || len > SOAP_MAX_BODY || len > (size_t)INT32_MAX)
		return -1;
	/* NONET: never fetch; no NOENT/DTDLOAD: entities stay unexpanded (no XXE, no billion
	 * laughs); HUGE is not set, so libxml2's own depth and size limits apply. */
	doc = xmlReadMemory(body, (int)len, "soap.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return -1;
	/* Unexpanded entities still expand when xmlNodeGetContent reads them: a 60 KB answer
	 * with one big entity referenced 20000 times became a 100 MB value. No speaker sends a
	 * DOCTYPE, so refuse any. */
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		xmlFreeDoc(doc);
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	snprintf(want, sizeof(want), "%sResponse", action);
	if ((n = find_element(root, want, 0)) != NULL) {
		collect_values(n, res);
		rv = 0;
	} else if (find_element(root, "Fault", 0) != NULL) {
		xmlNode *code = find_element(root, "errorCode", 0);

		res->fault = 1;
		if (code != NULL) {
			xmlChar *text = xmlNodeGetContent(code);

			res->error_code = text != NULL ? atoi((const char *)text) : 0;
			xmlFree(text);
		}
		rv = 0;
	}
	xmlFreeDoc(doc);
	return rv;
}

const char *
soap_value(const struct soap_result *res, const char *name)
{
	for (int i = 0; i < res->nvalues; i++)
		if (strcmp(res->names[i], name) == 0)
			return res->values[i];
	return NULL;
}

void
soap_result_free(struct soap_result *res)
{
	for (int i = 0; i < res->nvalues; i++) {
		free(res->names[i]);
		free(res->values[i]);
	}
	memset(res, 0, sizeof(*res));
}

const char *
soap_error_text(enum soap_service svc, int code)
{
	switch (code) {
	case 401: return "invalid action";
	case 402: return "invalid arguments";
	case 403: return "out of sync";
	case 501: return svc == SOAP_RENDERING ? "action failed (fixed volume output?)"
					       : "action failed";
	case 701:
		return svc == SOAP_GROUP_RENDERING ? "not the group coordinator"
						   : "transition not available now";
	case 702: return "no contents";
	case 703: return "read error";
	case 704: return "format not supported for playback";
	case 705: return "transport is locked";
	case 706: return "write error";
	case 707: return "media is protected or not writable";
	case 710: return "seek mode not supported";
	case 711: return "illegal seek target";
	case 712: return "play mode not supported";
	case 714: return "illegal MIME type (this source cannot be played or restored here)";
	case 715: return "content busy";
	case 716: return "resource not found";
	case 718: return "invalid instance id";
	case 800: return "not supported here (not the group coordinator?)";
	default: return "unknown error";
	}
}
