"""Whether the process that was running a piece of work still runs: a run whose worker (or
command) is gone will never report its own end, so the pipeline ends it instead.

A process id alone is weak evidence: a zombie (killed, not yet reaped) still answers
``kill(pid, 0)``, and the id of a dead process is given to a new one in time. So a zombie
counts as gone, and where ``/proc`` tells a process's start time, a process started after
the work began is not the one that began it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

START_SLACK_S = 1.0
"""Clock ticks and rounding: a process started this little after the work is still its own."""


def this_host() -> str:
    """The host name process ids are valid on."""
    return socket.gethostname()


def process_alive(pid: int, started_by: float | None = None, proc: Path = Path("/proc")) -> bool:
    """True when process ``pid`` of this host runs and is not a zombie, and (given
    ``started_by``, epoch seconds) started no later than that."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    state, started_at = _proc_stat(pid, proc)
    if state == "Z":
        return False
    return started_by is None or started_at is None or started_at <= started_by + START_SLACK_S


def _proc_stat(pid: int, proc: Path) -> tuple[str | None, float | None]:
    """(state letter, start time in epoch seconds) from ``/proc``; Nones where there is none."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in (proc / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None, None
    # The command name may hold spaces and parentheses: the fields follow its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return fields[0], boot + int(fields[19]) / ticks


OWNER_PID_TAG = "pm/owner_pid"
OWNER_HOST_TAG = "pm/owner_host"
"""Tags of a run executed in a command's own process (``pm-pipeline score``, ``train``)."""


def owner_tags() -> dict[str, str]:
    """The tags naming this process as the one executing a run."""
    return {OWNER_PID_TAG: str(os.getpid()), OWNER_HOST_TAG: this_host()}


def worker_gone(pid: int | None, host: str | None, started_by: float | None) -> bool:
    """True when the process ``pid`` on ``host`` that was running a piece of work since
    ``started_by`` is certainly gone; False when it runs, or when it cannot be told from here
    (no pid known, or another host's process)."""
    if pid is None or host is None or host not in (this_host(), *LOCAL_HOSTS):
        return False
    return not process_alive(pid, started_by)


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")
"""Host names a code server spawned on this machine is reached by."""
