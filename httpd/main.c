/* main.c -- placeholder until the httpd worker lands. */
#include "log.h"
#include <unistd.h>
int main(void);
int main(void) { log_init("httpd", LOG_LVL_INFO); log_info("placeholder"); pause(); return 0; }
