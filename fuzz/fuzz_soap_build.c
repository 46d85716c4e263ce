/* fuzz_soap_build.c -- escaping: SOAP arguments and DIDL-Lite metadata built from hostile text
 * (playerd/soap.c soap_build, playerd/didl.c, common/strbuf.c). Whatever a user sends, the
 * envelope keeps its structure: parsed back, it has exactly the arguments we put in, and text
 * that XML can carry comes back byte for byte. */
#include "didl.h"
#include "fuzz.h"
#include "soap.h"
#include "util.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	return 0;
}

/* 1 if s is text XML 1.0 carries unchanged in element content: valid UTF-8, no control
 * characters but tab and newline (a CR would be read back as a newline), no U+FFFE/U+FFFF. */
static int
xml_clean(const char *s)
{
	size_t len = strlen(s);

	if (!util_utf8_valid(s, len))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t' && c != '\n') ||
		    (c == 0xEF && i + 2 < len && (unsigned char)s[i + 1] == 0xBF &&
		     ((unsigned char)s[i + 2] == 0xBE || (unsigned char)s[i + 2] == 0xBF)))
			return 0;
	}
	return 1;
}

/* Text of the first element named name below n (depth-first), or NULL. Caller frees. */
static xmlChar *
element_text(xmlNode *n, const char *name)
{
	for (; n != NULL; n = n->next) {
		xmlChar *t;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)n->name, name) == 0)
			return xmlNodeGetContent(n);
		if ((t = element_text(n->children, name)) != NULL)
			return t;
	}
	return NULL;
}

/* The metadata argument as it came back must be our DIDL-Lite with title and url intact. */
static void
check_didl(const char *didl, const char *url, const char *title, int clean)
{
	xmlDoc *doc = xmlReadMemory(didl, (int)strlen(didl), "didl.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNode *root;
	xmlChar *t, *r;

	if (doc == NULL) {
		if (clean)
			abort(); /* clean text must always make a well-formed document */
		return;
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "DIDL-Lite") != 0)
		abort();
	t = element_text(root, "title");
	r = element_text(root, "res");
	if (t == NULL || r == NULL)
		abort();
	if (clean && (strcmp((const char *)t, title) != 0 || strcmp((const char *)r, url) != 0))
		abort();
	xmlFree(t);
	xmlFree(r);
	xmlFreeDoc(doc);
}

/* Input: "<url>\0<title>"; the title doubles as a free-form metadata argument. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size), *url = in, *title;
	size_t ulen = strlen(in);
	struct strbuf meta = STRBUF_INIT, env = STRBUF_INIT;
	struct soap_result res;
	int clean;

	title = ulen < size ? in + ulen + 1 : in + ulen;
	clean = xml_clean(url) && xml_clean(title);
	if (didl_clip(&meta, url, title, "audio/wav") < 0)
		goto out;
	{
		const struct soap_arg args[] = {{"InstanceID", "0"},
						{"CurrentURI", url},
						{"CurrentURIMetaData", meta.s},
						{"Extra", title}};

		/* Built as an answer, so soap_parse reads the arguments back. */
		if (soap_build(&env, SOAP_AVTRANSPORT, "SetAVTransportURIResponse", args, 4) < 0)
			goto out;
	}
	if (soap_parse(env.s, env.len, "SetAVTransportURI", &res) < 0) {
		if (clean)
			abort();
		goto out;
	}
	/* Parsed at all: the structure is ours, whatever the text. */
	if (res.fault || res.nvalues != 4 || strcmp(res.names[0], "InstanceID") != 0 ||
	    strcmp(res.names[1], "CurrentURI") != 0 ||
	    strcmp(res.names[2], "CurrentURIMetaData") != 0 || strcmp(res.names[3], "Extra") != 0 ||
	    strcmp(res.values[0], "0") != 0)
		abort();
	if (clean && (strcmp(res.values[1], url) != 0 || strcmp(res.values[2], meta.s) != 0 ||
		      strcmp(res.values[3], title) != 0))
		abort();
	check_didl(res.values[2], url, title, clean);
	soap_result_free(&res);
out:
	strbuf_free(&meta);
	strbuf_free(&env);
	free(in);
	return 0;
}
