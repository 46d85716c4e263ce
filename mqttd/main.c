/* main.c -- placeholder until the mqttd worker lands. */
#include "log.h"
#include <unistd.h>
int main(void);
int main(void) { log_init("mqttd", LOG_LVL_INFO); log_info("placeholder"); pause(); return 0; }
