/* fuzz_didl.c -- DIDL-Lite track metadata from speakers (playerd/didl.c didl_parse_track): the
 * current track of a snapshot and of every AVTransport event. */
#include "didl.h"
#include "fuzz.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

/* 1 if libxml2, reading the input the way didl.c does, finds a DOCTYPE in it. */
static int
has_doctype(const uint8_t *data, size_t size)
{
	xmlDoc *doc = xmlReadMemory((const char *)data, (int)size, "didl.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	int found = doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL);

	xmlFreeDoc(doc);
	return found;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct didl_track t;
	char *xml = fuzz_copy(data, size);

	if (didl_parse_track(xml, size, &t) == 0) {
		if (memchr(t.title, '\0', sizeof(t.title)) == NULL ||
		    memchr(t.artist, '\0', sizeof(t.artist)) == NULL ||
		    memchr(t.album, '\0', sizeof(t.album)) == NULL ||
		    memchr(t.stream_content, '\0', sizeof(t.stream_content)) == NULL)
			abort();
		/* Accepted metadata has no DOCTYPE: declared entities would be expanded when the
		 * text is read (a quadratic blowup), which the field sizes do not bound. */
		if (has_doctype(data, size))
			abort();
	}
	free(xml);
	return 0;
}
