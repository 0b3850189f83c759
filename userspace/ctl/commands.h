/* commands.h -- raysensectl subcommands, one file each (cmd_<name>.c).
 * Each takes the arguments after its name (argv[0] is the subcommand name)
 * and returns the process exit code: 0 ok, 1 failure, 2 bad usage/input. */
#ifndef RAYSENSE_CTL_COMMANDS_H
#define RAYSENSE_CTL_COMMANDS_H

#include <stdbool.h>

/* Global output options (bpftool's -j/-p). */
extern bool ctl_json_output;
extern bool ctl_pretty_output;

int cmd_plan(int argc, char **argv);   /* offline planner: raysensectl plan FILE */
int cmd_status(int argc, char **argv); /* controller status */
int cmd_agent(int argc, char **argv);  /* agent summary over HTTP */
int cmd_maps(int argc, char **argv);   /* decode pinned BPF maps directly */
int cmd_replay(int argc, char **argv); /* demand trace replay: raysensectl replay TRACE */

#endif
