/* fuzz_status_page.c -- what httpd's own pages take from outside (httpd/status_page.c,
 * httpd/metrics.c): the test announcement form, the same-origin check on a request head, and
 * the status document the page and /metrics are rendered from (workers' facts come from
 * speakers' names, texts and errors). The page must never carry markup from its input. */
#include "fuzz.h"
#include "metrics.h"
#include "status_page.h"
#include "util.h"

#include <ctype.h>

/* Tags the page itself writes; any other "<x" in the output came from the input. */
static const char *const tags[] = {"!DOCTYPE", "html",  "head",   "meta", "title", "style",
                                   "body",     "h1",    "h2",     "p",    "span",  "table",
                                   "tr",       "th",    "td",     "form", "label", "select",
                                   "option",   "input", "button", "code", "a"};

static void
check_markup(const char *html)
{
	for (const char *p = strchr(html, '<'); p != NULL; p = strchr(p + 1, '<')) {
		const char *name = p[1] == '/' ? p + 2 : p + 1;
		size_t n = 0, i;

		while (isalnum((unsigned char)name[n]) || name[n] == '!')
			n++;
		for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
			if (strlen(tags[i]) == n && strncmp(tags[i], name, n) == 0)
				break;
		if (i == sizeof(tags) / sizeof(tags[0]))
			abort();
	}
	if (strstr(html, "<script") != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size), *s = fuzz_cstr(data, size), err[200];
	struct status_page_opts o = {.now_ms = 1700000000000ull,
	                             .form = 1,
	                             .max_text_length = 1000,
	                             .base_topic = "sonos",
	                             .notice = s};
	struct status_page_form f;
	struct strbuf out = STRBUF_INIT;

	if (status_page_form_parse(buf, size, 1000, &f, err, sizeof(err)) == 0) {
		size_t t = strlen(f.target), n = strlen(f.text);
		char *json;

		if (t == 0 || strpbrk(f.target, "/+#") != NULL || n == 0 || n > 1000 ||
		    !util_utf8_valid(f.text, n) || f.volume < -1 || f.volume > 100)
			abort();
		if ((json = status_page_form_json(&f, "web-0")) == NULL)
			abort();
		free(json);
	} else if (err[0] == '\0') {
		abort();
	}
	(void)status_page_same_origin(buf, size);
	if (status_page_render(buf, size, &o, &out) < 0 || out.s == NULL)
		abort();
	check_markup(out.s);
	strbuf_free(&out);
	if (metrics_render(buf, size, &out) == 0 && out.s != NULL) {
		/* Every line is a comment or a sample of ours. */
		for (char *line = out.s; *line != '\0'; line = strchr(line, '\n') + 1)
			if (strncmp(line, "# ", 2) != 0 && strncmp(line, "sonos_bridge_", 13) != 0)
				abort();
	}
	strbuf_free(&out);
	free(buf);
	free(s);
	return 0;
}
