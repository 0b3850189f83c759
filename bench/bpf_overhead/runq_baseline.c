/* runq_baseline.c -- the baseline of bench/bpf_overhead: bpf/runqlat.bpf.c
 * loaded with filter_raylets = false, i.e. libbpf-tools runqlat's approach
 * of timing every task, unpinned. Runs until SIGTERM/SIGINT. */
#include "agent/runq.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

int main(void)
{
	struct runqlat_bpf *skel;
	int err;

	rs_log_init("runq_baseline", RS_LOG_INFO);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	err = rs_runq_open(NULL, false, &skel);
	if (err) {
		fprintf(stderr, "runq_baseline: %s\n", strerror(-err));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	rs_runq_close(skel);
	return 0;
}
