/* fuzz.h -- the libFuzzer targets of raysense's parsers.  Every target takes
 * the input as libFuzzer gives it: (data, size), NOT NUL-terminated, exactly
 * as the parsers get HTTP bodies and /proc files.  fuzz_main.c picks one per
 * executable (FUZZ_TARGET, set by tests/fuzz/CMakeLists.txt). */
#ifndef RAYSENSE_FUZZ_H
#define RAYSENSE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The input copied with a NUL after it, for parsers of C strings; NULL
 * when out of memory (the caller skips the input). */
char *fuzz_cstring(const uint8_t *data, size_t size);

/* fuzz_dashboard.c */
void fuzz_dash_version(const uint8_t *data, size_t size);
void fuzz_dash_nodes(const uint8_t *data, size_t size);
void fuzz_dash_pending(const uint8_t *data, size_t size);
void fuzz_dash_cluster_status(const uint8_t *data, size_t size);
void fuzz_dash_api_pgs(const uint8_t *data, size_t size);
void fuzz_dash_node_summary(const uint8_t *data, size_t size);
void fuzz_dash_status_text(const uint8_t *data, size_t size);
void fuzz_rtext_pydict(const uint8_t *data, size_t size);
void fuzz_rtext_status(const uint8_t *data, size_t size);
void fuzz_rtext_node_usage(const uint8_t *data, size_t size);
void fuzz_gcs_load(const uint8_t *data, size_t size);
/* fuzz_kube.c */
void fuzz_kuberay_raycluster(const uint8_t *data, size_t size);
void fuzz_kuberay_pods(const uint8_t *data, size_t size);
void fuzz_lease(const uint8_t *data, size_t size);
void fuzz_token_review(const uint8_t *data, size_t size);
void fuzz_node_pods(const uint8_t *data, size_t size);
/* fuzz_controller.c */
void fuzz_signals(const uint8_t *data, size_t size);
void fuzz_scenario(const uint8_t *data, size_t size);
void fuzz_config(const uint8_t *data, size_t size);
/* fuzz_agent.c */
void fuzz_raylet_argv(const uint8_t *data, size_t size);
void fuzz_lc_cmdline(const uint8_t *data, size_t size);
void fuzz_cgroup_path(const uint8_t *data, size_t size);

#endif
