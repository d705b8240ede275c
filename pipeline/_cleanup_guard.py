"""Removes a scan's temporary files when the scan dies before it can.

Started by :class:`pipeline.export.ResultWriter` as ``python -I -S _cleanup_guard.py`` (the
standard library only, so it starts in milliseconds) with a pipe on its standard input, on which
the scan writes one command per line:

- ``remove PATH``: a temporary file (with its SQLite ``-journal``/``-wal``/``-shm``) or folder;
- ``kill PID`` / ``forget PID``: a child process to stop first (the background writer) / not;
- ``done``: the scan finished or cleaned up itself; nothing to do.

When the pipe closes without ``done`` — the kernel closes it when the scan dies, even of
SIGKILL — the guard kills the listed processes, waits until they are gone, removes what still
exists of the listed paths and exits. The result file itself is never listed: a scan that dies
leaves the previous result as it was and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time

SQLITE_SUFFIXES = ("", "-journal", "-wal", "-shm")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie waiting for its new parent to reap it cannot write anymore
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def clean(pids: list[int], paths: list[str]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        deadline = time.monotonic() + 30
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    for path in paths:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            continue
        for suffix in SQLITE_SUFFIXES:
            with contextlib.suppress(OSError):
                os.unlink(path + suffix)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the scan's to handle
    pids: list[int] = []
    paths: list[str] = []
    for line in sys.stdin:
        command, _, arg = line.rstrip("\n").partition(" ")
        if command == "done":
            return 0
        if command == "remove":
            paths.append(arg)
        elif command == "kill":
            pids.append(int(arg))
        elif command == "forget" and int(arg) in pids:
            pids.remove(int(arg))
    clean(pids, paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
