"""probe_report.py -- what the agent says about the lease probes of one
raylet: which attached (its debug log names each, with the symbol) and
which it wanted but could not attach, and why (the
raysense_raylet_lease_probe_missing series of /metrics)."""
import re

from promtext import parse_prom

MISSING = "raysense_raylet_lease_probe_missing"
RPC_PAIR = ("ServerCallImpl<RequestWorkerLease>::HandleRequest",
            "ServerCallImpl<RequestWorkerLease>::OnReplySent")
OUTCOME = "GenericSerialize<RequestWorkerLeaseReply>"


def attached_probes(log, pid):
    return re.findall(rf"raylet pid {pid}: uprobe (.+?) at 0x[0-9a-f]+ on ", log)


def missing_probes(metrics_text, pid):
    """{probe name: reason} of the probes off on raylet `pid`."""
    return {labels["probe"]: labels["reason"] for name, labels, v in parse_prom(metrics_text)
            if name == MISSING and labels.get("raylet_pid") == str(pid) and v == 1}
