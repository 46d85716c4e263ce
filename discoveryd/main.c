/* main.c -- placeholder until the discoveryd worker lands. */
#include "log.h"
#include <unistd.h>
int main(void);
int main(void) { log_init("discoveryd", LOG_LVL_INFO); log_info("placeholder"); pause(); return 0; }
