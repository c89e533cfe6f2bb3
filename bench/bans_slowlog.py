"""The longest commands of a bench run, told apart from the machine's own stalls (issue 24: no command above 5 ms).

``SLOWLOG`` times a command wall clock, from its start to its end, so it also counts what is not the command's
work: the kernel giving Redis's core to another runnable thread (on this 2-core VM, kernel 6.18 at HZ=250, a nice-0
thread took a whole 4 ms tick from Redis at nice -20, mid-command: the pass's own Python threads, kworkers, the
VM's agent), the hypervisor not running the virtual CPU (no sample for 3-5 ms while the guest thought Redis ran),
and page faults (after the keyspace's hash table doubles, a restore's next calls each fault 400-860 fresh pages in:
3.5-8.4 ms at 1M). docs/bans.md, "No command above 5 ms", has the measurements. So the bench

* gives Redis a core of its own when the machine has two (the bench and its passes run on the others) and nice -20;
* counts a script's inner commands in their script (``SLOWLOG`` logs both, the inner one from client ``?:0``);
* reports beside each pass kind's long entries what Redis's main thread went through meanwhile, read from /proc
  without privilege: how often the kernel took its core (involuntary switches), how long it waited, runnable, for
  one (schedstat), and its page faults.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

INNER = b"?:0"  # the client address SLOWLOG gives a command a script ran


def favour(pid: int) -> str:
    """Redis at nice -20, alone on a core when there are two: what the header says of its share of the machine."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, -20)
        share = "at nice -20"
    except OSError:
        share = "at the default priority"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return f"{share}, sharing the machine's only core with the passes (SLOWLOG includes the time they held it)"
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpus[0]})
    os.sched_setaffinity(0, cpus[1:])  # this process, and so every pass it starts
    return (f"{share}, alone on CPU {cpus[0]} (the bench and its passes on CPU {cpus[1]}"
            f"{'-' + str(cpus[-1]) if len(cpus) > 2 else ''}; the kernel's own threads still share it)")


def thread_counters(pid: int) -> dict[str, int]:
    """Redis's main thread so far: involuntary context switches, ns spent runnable without a core, page faults."""
    task = Path(f"/proc/{pid}/task/{pid}")
    status = (task / "status").read_text()
    return {"preempted": int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", status).group(1)),
            "waited_ns": int((task / "schedstat").read_text().split()[1]),
            "faults": int((task / "stat").read_text().rsplit(")", 1)[1].split()[7])}


def command_name(command: bytes | str) -> str:
    text = command.decode("utf-8", "replace") if isinstance(command, bytes) else str(command)
    if text.upper().startswith(("EVAL", "EVALSHA")):
        return text.split(" ", 1)[0] + " (script)"
    return text[:40]


def slow_entries(client) -> list[dict]:
    """SLOWLOG's entries, less the bench's own (its ``SLOWLOG RESET`` freeing the previous phase's entries took
    7 ms at 1M) and less a script's inner commands, whose time is in their script's entry."""
    return [entry for entry in client.slowlog_get(10_000)
            if entry.get("client_address") != INNER and not command_name(entry["command"]).upper().startswith("SLOWLOG")]
