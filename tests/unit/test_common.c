/* test_common.c -- config parsing, slugs, UTF-8 validation and the message size check. */
#include "check.h"
#include "config.h"
#include "log.h"
#include "msg.h"
#include "util.h"

#include <stdlib.h>

static void
test_config(void)
{
	struct config c;
	char err[256];
	const char *file = "# comment\n"
			   "broker_host mqtt.lan   # trailing comment\n"
			   "broker_port 8883\n"
			   "\n"
			   "speakers 192.168.1.10, 192.168.1.11\n"
			   "log_level debug\n";
	char *envp[] = {"SONOS_BRIDGE_BROKER_PORT=1884", "HOME=/root", NULL};
	char *argv[] = {"--http-port", "9000", "--base_topic=house", "status"};
	char list[4][64];
	int rest = -1;

	config_defaults(&c);
	CHECK_INT(c.broker_port, 1883);
	CHECK_STR(c.base_topic, "sonos");
	CHECK_INT(config_parse_buffer(&c, file, strlen(file), err, sizeof(err)), 0);
	CHECK_STR(c.broker_host, "mqtt.lan");
	CHECK_INT(c.broker_port, 8883);
	CHECK_INT(c.log_level, LOG_LVL_DEBUG);
	CHECK_INT(config_apply_env(&c, envp, err, sizeof(err)), 0);
	CHECK_INT(c.broker_port, 1884);
	CHECK_INT(config_apply_args(&c, 4, argv, &rest, err, sizeof(err)), 0);
	CHECK_INT(rest, 3);
	CHECK_INT(c.http_port, 9000);
	CHECK_STR(c.base_topic, "house");
	CHECK_INT(config_finish(&c, err, sizeof(err)), 0);
	CHECK_INT(config_speaker_list(&c, list, 4), 2);
	CHECK_STR(list[1], "192.168.1.11");
	CHECK(strstr(c.cache_dir, "/cache") != NULL);

	CHECK_INT(config_parse_buffer(&c, "nonsense 1\n", 11, err, sizeof(err)), -1);
	CHECK(strstr(err, "line 1") != NULL && strstr(err, "unknown key") != NULL);
	CHECK_INT(config_parse_buffer(&c, "\nbroker_port 0\n", 15, err, sizeof(err)), -1);
	CHECK(strstr(err, "line 2") != NULL);
	CHECK_INT(config_parse_buffer(&c, "broker_port 12x\n", 16, err, sizeof(err)), -1);
	CHECK_INT(config_parse_buffer(&c, "log_level loud\n", 15, err, sizeof(err)), -1);
	/* restart_intensity stops where the supervisor's restart history does. */
	CHECK_INT(config_set(&c, "restart_intensity", "100", err, sizeof(err)), 0);
	CHECK_INT(config_set(&c, "restart_intensity", "101", err, sizeof(err)), -1);
	CHECK(strstr(err, "100") != NULL);
	CHECK_INT(config_parse_buffer(&c, "a\0b", 3, err, sizeof(err)), -1);
	config_defaults(&c);
	strcpy(c.speakers, "10.0.0.1,kitchen");
	CHECK_INT(config_finish(&c, err, sizeof(err)), -1);
	CHECK(strstr(err, "kitchen") != NULL);
}

static void
test_slug(void)
{
	char out[64];

	CHECK_INT(util_slug("Living Room", out, sizeof(out)), 11);
	CHECK_STR(out, "living-room");
	util_slug("  Kid's  Room (2) ", out, sizeof(out));
	CHECK_STR(out, "kid-s-room-2");
	util_slug("Küche", out, sizeof(out));
	CHECK_STR(out, "k\xc3\xbc" "che");
	util_slug("K\xc3\x9c" "CHE", out, sizeof(out)); /* KÜCHE */
	CHECK_STR(out, "k\xc3\xbc" "che");
	util_slug("\xc3\x97", out, sizeof(out)); /* the multiplication sign stays */
	CHECK_STR(out, "\xc3\x97");
	CHECK_INT(util_slug("TV", out, 3), 2);
	CHECK_INT(util_slug("Kitchen", out, 4), -1);
}

static void
test_utf8(void)
{
	CHECK(util_utf8_valid("plain", 5));
	CHECK(util_utf8_valid("\xc3\xa9t\xc3\xa9", 6));             /* été */
	CHECK(util_utf8_valid("\xd0\x9f\xd1\x80\xd0\xb8", 6));       /* При */
	CHECK(util_utf8_valid("\xe6\x97\xa5\xe6\x9c\xac", 6));       /* 日本 */
	CHECK(util_utf8_valid("\xf0\x9f\x94\x94", 4));               /* bell emoji */
	CHECK(!util_utf8_valid("\xff", 1));
	CHECK(!util_utf8_valid("\xc3", 1));                          /* truncated */
	CHECK(!util_utf8_valid("\xc0\xaf", 2));                      /* overlong '/' */
	CHECK(!util_utf8_valid("\xed\xa0\x80", 3));                  /* surrogate */
	CHECK(!util_utf8_valid("\xf4\x90\x80\x80", 4));              /* > U+10FFFF */
}

static void
test_same_ipv4(void)
{
	CHECK(util_same_ipv4("192.168.1.20", "192.168.1.20"));
	CHECK(util_same_ipv4("::ffff:192.168.1.20", "192.168.1.20"));
	CHECK(util_same_ipv4("127.0.0.2", "::FFFF:127.0.0.2"));
	CHECK(!util_same_ipv4("192.168.1.20", "192.168.1.21"));
	CHECK(!util_same_ipv4("127.0.0.99", "127.0.0.2"));
	CHECK(!util_same_ipv4("192.168.001.020", "192.168.1.20")); /* not a dotted quad */
	CHECK(!util_same_ipv4("", ""));
	CHECK(!util_same_ipv4("?", "?"));
	CHECK(!util_same_ipv4("::1", "::1")); /* not IPv4 */
	CHECK(!util_same_ipv4("192.168.1.20 ", "192.168.1.20"));
}

static void
test_msg(void)
{
	const struct msg_hdr *h;
	const void *p;
	char err[160];
	size_t n;
	struct msg_event ev;
	unsigned char *buf;
	struct {
		struct msg_request r;
		char text[5];
	} req;

	memset(&ev, 0, sizeof(ev));
	strcpy(ev.id, "abc");
	ev.status = EVENT_DONE;
	buf = msg_build(MSG_EVENT, 7, &ev, sizeof(ev), &n);
	CHECK(buf != NULL);
	CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), 0);
	CHECK_INT(h->type, MSG_EVENT);
	CHECK_INT(h->seq, 7);
	CHECK_STR(((const struct msg_event *)p)->id, "abc");
	CHECK_INT(msg_check(buf, n - 1, &h, &p, err, sizeof(err)), -1);
	memset(((struct msg_event *)(void *)(buf + sizeof(struct msg_hdr)))->error, 'x', 256);
	CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), -1); /* unterminated string */
	CHECK(strstr(err, "MSG_EVENT") != NULL);
	((struct msg_hdr *)(void *)buf)->type = 999;
	CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), -1);
	free(buf);

	memset(&req, 0, sizeof(req));
	memcpy(req.text, "hello", 5);
	req.r.text_len = 5;
	buf = msg_build(MSG_REQUEST, 1, &req, sizeof(req.r) + 5, &n);
	CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), 0);
	((struct msg_request *)(void *)(buf + sizeof(struct msg_hdr)))->text_len = 6;
	CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), -1);
	free(buf);

	/* A NOTIFY carries the address it came from, terminated like every text field. */
	{
		struct {
			struct msg_gena_notify m;
			char body[4];
		} gn;

		memset(&gn, 0, sizeof(gn));
		strcpy(gn.m.uuid, "RINCON_1");
		strcpy(gn.m.service, "AVTransport");
		strcpy(gn.m.sid, "uuid:s");
		strcpy(gn.m.peer, "192.168.1.20");
		gn.m.body_len = 4;
		memcpy(gn.body, "<x/>", 4);
		buf = msg_build(MSG_GENA_NOTIFY, 1, &gn, sizeof(gn.m) + 4, &n);
		CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), 0);
		CHECK_STR(((const struct msg_gena_notify *)p)->peer, "192.168.1.20");
		memset(((struct msg_gena_notify *)(void *)(buf + sizeof(struct msg_hdr)))->peer,
		       '1', sizeof(gn.m.peer));
		CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), -1);
		free(buf);
	}
	/* httpd tells playerd a clip was asked for: fixed size, both names terminated. */
	{
		struct msg_clip_fetched cf;

		memset(&cf, 0, sizeof(cf));
		strcpy(cf.name, "ab.wav");
		strcpy(cf.peer, "192.168.1.20");
		buf = msg_build(MSG_CLIP_FETCHED, 1, &cf, sizeof(cf), &n);
		CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), 0);
		CHECK_STR(((const struct msg_clip_fetched *)p)->name, "ab.wav");
		CHECK_INT(msg_check(buf, n - 1, &h, &p, err, sizeof(err)), -1);
		memset(((struct msg_clip_fetched *)(void *)(buf + sizeof(struct msg_hdr)))->name,
		       'a', sizeof(cf.name));
		CHECK_INT(msg_check(buf, n, &h, &p, err, sizeof(err)), -1);
		free(buf);
	}
	CHECK_STR(msg_type_name(MSG_CLIP_FETCHED), "MSG_CLIP_FETCHED");
	CHECK_STR(msg_type_name(MSG_CLIP_REPLY), "MSG_CLIP_REPLY");
	CHECK_STR(msg_type_name(0), "unknown");
	CHECK_STR(event_status_name(EVENT_REJECTED), "rejected");
}

int
main(void)
{
	test_config();
	test_slug();
	test_utf8();
	test_same_ipv4();
	test_msg();
	CHECK_DONE();
}
