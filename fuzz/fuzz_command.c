/* fuzz_command.c -- `<base>/<room>/set` control payloads (common/command.c). */
#include "command.h"
#include "fuzz.h"

/* Every text field of an accepted command must be terminated inside its buffer. */
static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct command cmd;
	char reason[160] = "";
	void *payload = fuzz_copy(data, size);

	if (command_parse(payload, size, &cmd, reason, sizeof(reason)) == 0) {
		if (!terminated(cmd.id, sizeof(cmd.id)) || !terminated(cmd.join, sizeof(cmd.join)) ||
		    !terminated(cmd.uri, sizeof(cmd.uri)) ||
		    !terminated(cmd.metadata, sizeof(cmd.metadata)) ||
		    !terminated(cmd.seek, sizeof(cmd.seek)) ||
		    (cmd.has_volume && !cmd.volume_relative && (cmd.volume < 0 || cmd.volume > 100)) ||
		    (cmd.has_volume && (cmd.volume < -100 || cmd.volume > 100)) || cmd.track < 0 ||
		    memchr(data, '\0', size) != NULL)
			abort();
		(void)command_empty(&cmd);
		(void)command_transport_name(cmd.transport);
	} else if (reason[0] == '\0') {
		abort(); /* a rejection always says why */
	}
	free(payload);
	return 0;
}
