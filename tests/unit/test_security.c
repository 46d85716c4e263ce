/* test_security.c -- broker security: password files and what libmosquitto's log says. */
#include "check.h"
#include "security.h"

#include <string.h>

static void
test_password_line(void)
{
	char pw[16];

	CHECK_INT(security_password_line("s3cret\n", 7, pw, sizeof(pw)), 6);
	CHECK_STR(pw, "s3cret");
	CHECK_INT(security_password_line("s3cret\r\nsecond line\n", 20, pw, sizeof(pw)), 6);
	CHECK_STR(pw, "s3cret");
	CHECK_INT(security_password_line("no newline", 10, pw, sizeof(pw)), 10);
	CHECK_STR(pw, "no newline");
	CHECK_INT(security_password_line("\nafter an empty line", 20, pw, sizeof(pw)), -1);
	CHECK_INT(security_password_line("", 0, pw, sizeof(pw)), -1);
	CHECK_INT(security_password_line("exactly-16-bytes", 16, pw, sizeof(pw)), -1);
	CHECK_INT(security_password_line("fifteen-bytes!!", 15, pw, sizeof(pw)), 15);
	CHECK_INT(security_password_line("a\0b", 3, pw, sizeof(pw)), 1);
}

static void
test_classify(void)
{
	char out[192];

	CHECK_INT(security_classify_log("Client sb received CONNACK (5)", out, sizeof(out)), 1);
	CHECK(strstr(out, "username or password") != NULL);
	CHECK_INT(security_classify_log("Client sb received CONNACK (4)", out, sizeof(out)), 1);
	CHECK_INT(security_classify_log("Client sb received CONNACK (0)", out, sizeof(out)), 2);
	/* Not an authentication matter: the ordinary reconnect path reports it. */
	CHECK_INT(security_classify_log("Client sb received CONNACK (3)", out, sizeof(out)), 0);
	CHECK_INT(security_classify_log("OpenSSL Error[0]: error:0A000086:SSL routines::"
					"certificate verify failed",
					out, sizeof(out)),
		  1);
	CHECK(strstr(out, "certificate was not accepted") != NULL);
	CHECK_INT(security_classify_log("OpenSSL Error[0]: error:0A000418:SSL routines::tlsv1 "
					"alert unknown ca",
					out, sizeof(out)),
		  1);
	CHECK_STR(out, "TLS: tlsv1 alert unknown ca");
	CHECK_INT(security_classify_log("Client sb sending PINGREQ", out, sizeof(out)), 0);
	CHECK_INT(security_classify_log("received CONNACK (", out, sizeof(out)), 0);
}

int
main(void)
{
	test_password_line();
	test_classify();
	CHECK_DONE();
}
