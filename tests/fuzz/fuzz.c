/* SPDX-License-Identifier: MIT */
/* What every fuzz target does once, before its first input (fuzz.h). */
#include "config.h"

#include <stdlib.h>

#include "idrfs/log.h"

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!getenv("FUZZ_LOG"))
		log_open(LOG_SINK_FILE, "/dev/null");
	return 0;
}
