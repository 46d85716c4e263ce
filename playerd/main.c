/* main.c -- placeholder until the playerd worker lands. */
#include "log.h"
#include <unistd.h>
int main(void);
int main(void) { log_init("playerd", LOG_LVL_INFO); log_info("placeholder"); pause(); return 0; }
