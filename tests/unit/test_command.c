/* test_command.c -- control command payloads: JSON forms, plain words, every rejection. */
#include "check.h"
#include "command.h"

static int
parse(const char *s, struct command *c, char *reason)
{
	return command_parse(s, strlen(s), c, reason, 160);
}

int
main(void)
{
	struct command c;
	char reason[160];

	CHECK_INT(parse("{\"command\":\"pause\",\"id\":\"c1\"}", &c, reason), 0);
	CHECK_INT(c.transport, COMMAND_PAUSE);
	CHECK_STR(c.id, "c1");
	CHECK_INT(parse("{\"volume\":30}", &c, reason), 0);
	CHECK(c.has_volume && c.volume == 30 && !c.volume_relative);
	CHECK_INT(parse("{\"volume\":\"-5\"}", &c, reason), 0);
	CHECK(c.has_volume && c.volume == -5 && c.volume_relative);
	CHECK_INT(parse("{\"mute\":true}", &c, reason), 0);
	CHECK(c.has_mute && c.mute);
	CHECK_INT(parse("{\"seek\":\"0:01:30\"}", &c, reason), 0);
	CHECK_STR(c.seek, "0:01:30");
	CHECK_INT(parse("{\"seek\":3725}", &c, reason), 0);
	CHECK_STR(c.seek, "1:02:05");
	CHECK_INT(parse("{\"track\":3,\"command\":\"play\"}", &c, reason), 0);
	CHECK(c.track == 3 && c.transport == COMMAND_PLAY);
	CHECK_INT(parse("{\"join\":\"living-room\"}", &c, reason), 0);
	CHECK_STR(c.join, "living-room");
	CHECK_INT(parse("{\"uri\":\"x-sonosapi-stream:s1?sid=254\",\"metadata\":\"<DIDL-Lite/>\"}",
	                &c, reason),
	          0);
	CHECK_STR(c.uri, "x-sonosapi-stream:s1?sid=254");
	CHECK_INT(parse("  pause\n", &c, reason), 0);
	CHECK_INT(c.transport, COMMAND_PAUSE);
	CHECK_INT(parse("Next", &c, reason), 0);
	CHECK_INT(c.transport, COMMAND_NEXT);
	CHECK_INT(parse("unmute", &c, reason), 0);
	CHECK(c.has_mute && !c.mute);
	CHECK_INT(parse("25", &c, reason), 0);
	CHECK(c.has_volume && c.volume == 25);
	CHECK_INT(parse("leave", &c, reason), 0);
	CHECK(c.leave);

	CHECK_INT(parse("{\"volume\":500}", &c, reason), -1);
	CHECK_STR(reason, "volume out of range 0..100 (500)");
	CHECK_INT(parse("{\"volume\":\"5\"}", &c, reason), -1);
	CHECK_INT(parse("{\"volume\":\"+\"}", &c, reason), -1);
	CHECK_INT(parse("{\"volume\":\"+500\"}", &c, reason), -1);
	CHECK_STR(reason, "volume: expected 0..100, or a step \"+N\"/\"-N\" of at most 100");
	CHECK_INT(parse("{\"volume\":\"-100\"}", &c, reason), 0);
	CHECK(c.volume_relative && c.volume == -100);
	CHECK_INT(parse("{\"command\":\"dance\"}", &c, reason), -1);
	CHECK_INT(parse("{\"mute\":\"yes\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"1:99:00\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":-1}", &c, reason), -1);
	/* A sign is not a position: "-1:00:00" is not 1:00:00, "+0:00:10" not 0:00:10. */
	CHECK_INT(parse("{\"seek\":\"-1:00:00\"}", &c, reason), -1);
	CHECK(strstr(reason, "no sign") != NULL);
	CHECK_INT(parse("{\"seek\":\"+0:00:10\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"0:-1:00\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"0:00:+5\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\" 0:00:10\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"0: 0:10\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"0:00:10 \"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"100:00:00\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"0:00\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"\"}", &c, reason), -1);
	CHECK_INT(parse("{\"seek\":\"99:59:59\"}", &c, reason), 0);
	CHECK_STR(c.seek, "99:59:59");
	CHECK_INT(parse("{\"seek\":\"1:2:3\"}", &c, reason), 0);
	CHECK_STR(c.seek, "1:02:03");
	CHECK_INT(parse("{\"track\":0}", &c, reason), -1);
	CHECK_INT(parse("{\"colour\":\"red\"}", &c, reason), -1);
	CHECK(strstr(reason, "colour") != NULL);
	CHECK_INT(parse("{\"id\":\"x\"}", &c, reason), -1);
	CHECK(strstr(reason, "nothing to do") != NULL);
	CHECK_INT(parse("{\"join\":\"a\",\"leave\":true}", &c, reason), -1);
	CHECK_INT(parse("{\"metadata\":\"<x/>\"}", &c, reason), -1);
	CHECK_INT(parse("{\"volume\":1,\"volume\":2}", &c, reason), -1);
	CHECK_INT(parse("[1]", &c, reason), -1);
	CHECK_INT(parse("{\"command\":", &c, reason), -1);
	CHECK_INT(parse("dance", &c, reason), -1);
	CHECK_INT(parse("101", &c, reason), -1);
	CHECK(strstr(reason, "volume out of range") != NULL);
	CHECK_INT(parse("", &c, reason), -1);
	CHECK_INT(command_parse("\xff\xfe", 2, &c, reason, sizeof(reason)), -1);
	CHECK(strstr(reason, "UTF-8") != NULL);
	CHECK_INT(parse("{\"uri\":\"a\\u0000b\"}", &c, reason), -1);
	CHECK_INT(parse("{\"uri\":\"x-rincon-mp3radio:a\\u0001b\"}", &c, reason), -1);
	CHECK(strstr(reason, "control character") != NULL);
	CHECK_INT(
	    parse("{\"uri\":\"x:a\",\"metadata\":\"<DIDL-Lite>\\n</DIDL-Lite>\"}", &c, reason), 0);
	CHECK_INT(parse("{\"join\":\"kit\\u001bchen\"}", &c, reason), -1);
	/* expire_after as on tts; a rejection still names the publisher's id. */
	CHECK_INT(parse("{\"volume\":30,\"expire_after\":2.5}", &c, reason), 0);
	CHECK(c.expire_after == 2.5);
	CHECK_INT(parse("{\"volume\":30}", &c, reason), 0);
	CHECK(c.expire_after == 0);
	CHECK_INT(parse("{\"volume\":30,\"expire_after\":-1}", &c, reason), -1);
	CHECK(strstr(reason, "expire_after") != NULL);
	CHECK_INT(parse("{\"id\":\"x7\",\"volumne\":30}", &c, reason), -1);
	CHECK_STR(reason, "unknown key 'volumne'");
	CHECK_STR(c.id, "x7");
	/* A duplicate key is refused by name, and under the publisher's id. */
	CHECK_INT(parse("{\"id\":\"x8\",\"volume\":30,\"volume\":40}", &c, reason), -1);
	CHECK(strstr(reason, "duplicate object key near '\"volume\"'") != NULL);
	CHECK_STR(c.id, "x8");
	CHECK_INT(parse("{\"volume\":30,\"volume\":40,\"id\":\"x9\"}", &c, reason), -1);
	CHECK_STR(c.id, "x9");
	/* Any other malformation: no id to trust. */
	CHECK_INT(parse("{\"id\":\"x10\",\"volume\":30", &c, reason), -1);
	CHECK_STR(c.id, "");
	CHECK_DONE();
}
