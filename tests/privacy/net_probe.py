"""Run massmem's CLI in this process, record every Python-level network call, then linger.

Usage: ``python net_probe.py LOG LINGER_SECONDS -- massmem arguments...``

Why it exists: :mod:`tests.privacy.test_no_phone_home` needs a real, memory-enabled run in a
child process whose network use can be checked.  Python's audit hooks see every
``socket.connect``/``getaddrinfo``/``sendto`` made from Python (HTTP SDKs, mem0/posthog,
Hugging Face); a C++ library (ONNX Runtime's uploader) resolves names inside libc, where only
a syscall tracer sees it, so the test also runs this script under ``strace`` when it can.
The process stays alive ``LINGER_SECONDS`` after the run because ONNX Runtime's uploader
first looks up its host about nine seconds after start: a short run that exits sooner
would hide it.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from typing import Any


def _off_loopback(host: Any) -> bool:
    """Whether ``host`` (an address or a name) lies outside 127.0.0.0/8, ``::1`` and ``localhost``."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or not host or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return True  # a name other than localhost: resolving it is a DNS query


def main() -> int:
    log_path, linger = sys.argv[1], float(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1 :]
    seen: list[dict[str, str]] = []

    def hook(event: str, payload: tuple[Any, ...]) -> None:
        if event == "socket.getaddrinfo" and _off_loopback(payload[0]):
            seen.append({"event": event, "target": repr(payload[0])})
        elif event in ("socket.connect", "socket.sendto") and isinstance(payload[1], tuple):
            if _off_loopback(payload[1][0]):
                seen.append({"event": event, "target": repr(payload[1])})
        elif event == "socket.gethostbyname" and _off_loopback(payload[0]):
            seen.append({"event": event, "target": repr(payload[0])})

    sys.addaudithook(hook)
    sys.argv = ["massmem", *args]
    from massmem.cli.app import main as massmem_main

    code = 0
    try:
        massmem_main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    sys.stdout.flush()
    time.sleep(linger)
    with open(log_path, "w", encoding="utf-8") as handle:
        json.dump(seen, handle)
    return code


if __name__ == "__main__":
    sys.exit(main())
