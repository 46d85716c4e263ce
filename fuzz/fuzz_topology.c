/* fuzz_topology.c -- ZoneGroupState in its SOAP, GENA event and bare shapes
 * (discoveryd/topology.c). The ZoneGroupTopology event body is the one GENA body parsed so far. */
#include "description.h"
#include "fuzz.h"
#include "topology.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	description_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct topology t; /* ~100 KB: not on the stack */
	char err[160], household[64], *body = fuzz_copy(data, size);

	if (topology_parse(body, size, &t, err, sizeof(err)) == 0) {
		if (t.count < 0 || t.count > TOPOLOGY_MEMBERS_MAX)
			abort();
		for (int i = 0; i < t.count; i++) {
			const struct topology_member *m = &t.members[i];

			if (memchr(m->uuid, '\0', sizeof(m->uuid)) == NULL ||
			    memchr(m->room, '\0', sizeof(m->room)) == NULL ||
			    memchr(m->ip, '\0', sizeof(m->ip)) == NULL || m->uuid[0] == '\0' ||
			    topology_find(&t, m->uuid) == NULL)
				abort();
			(void)topology_member_hidden(m);
			(void)topology_satellites(&t, m->uuid);
		}
	}
	(void)topology_soap_value(body, size, "CurrentHouseholdID", household, sizeof(household));
	free(body);
	return 0;
}
