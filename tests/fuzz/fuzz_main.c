/* fuzz_main.c -- libFuzzer entry point: runs the one target this executable
 * was built for (-DFUZZ_TARGET=fuzz_<name>, see CMakeLists.txt), and the
 * shared helpers of the targets. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name a target of fuzz.h"
#endif

char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_TARGET(data, size);
	return 0;
}
