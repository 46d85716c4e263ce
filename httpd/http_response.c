/* http_response.c -- status lines and response heads, formatted without I/O. */
#include "http_response.h"

#include <stdarg.h>
#include <stdio.h>

const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 206:
		return "Partial Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* Append a formatted piece at *n; remembers overflow in *n == size. */
__attribute__((format(printf, 4, 5))) static void
append(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= size)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	*n = k < 0 || (size_t)k >= size - *n ? size : *n + (size_t)k;
}

int
http_response_head(char *buf, size_t size, const struct http_response *r)
{
	char date[64];
	struct tm tm;
	size_t n = 0;

	if (size == 0)
		return -1;
	gmtime_r(&r->date, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	append(buf, size, &n, "HTTP/1.1 %d %s\r\nServer: sonos-bridge\r\nDate: %s\r\n", r->status,
	       http_reason(r->status), date);
	if (r->content_type != NULL)
		append(buf, size, &n, "Content-Type: %s\r\n", r->content_type);
	append(buf, size, &n, "Content-Length: %llu\r\n", (unsigned long long)r->content_length);
	if (r->accept_ranges)
		append(buf, size, &n, "Accept-Ranges: bytes\r\n");
	if (r->content_range && r->status == 416)
		append(buf, size, &n, "Content-Range: bytes */%llu\r\n",
		       (unsigned long long)r->total);
	else if (r->content_range)
		append(buf, size, &n, "Content-Range: bytes %llu-%llu/%llu\r\n",
		       (unsigned long long)r->first, (unsigned long long)r->last,
		       (unsigned long long)r->total);
	if (r->allow != NULL)
		append(buf, size, &n, "Allow: %s\r\n", r->allow);
	if (!r->keep_alive)
		append(buf, size, &n, "Connection: close\r\n");
	else if (r->version == 10)
		append(buf, size, &n, "Connection: keep-alive\r\n");
	append(buf, size, &n, "\r\n");
	return n >= size ? -1 : (int)n;
}
