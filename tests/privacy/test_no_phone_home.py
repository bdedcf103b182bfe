"""A memory-enabled run makes no connection and no DNS query off 127.0.0.0/8.

ONNX Runtime 1.30 (the default embedder's runtime) ships 1DS telemetry on Linux: once a
session exists it writes a device id and an event queue under ``~/.cache/Microsoft`` and,
about nine seconds later, starts looking up ``mobile.events.data.microsoft.com``.
``ORT_DISABLE_TELEMETRY=1`` read before the runtime starts is the only switch that stops all
of it (measured: ``onnxruntime.disable_telemetry_events()`` after import leaves both the
files and the look-ups).  massmem sets it when it is imported, unless the user set it.

One real run (scripted agents, persistent memory on the int8 ONNX embedder, embedded
Qdrant) happens in a child process, checked three ways:

* Python's audit hooks see every ``connect``/``getaddrinfo``/``sendto`` made from Python;
* ONNX Runtime's telemetry state (device id, event queue) must not appear in the child's
  ``HOME`` — deterministic, and no system tool is needed;
* under ``strace`` (when installed and allowed to trace), no ``connect``/``sendto`` to an
  address off loopback and no DNS query (port 53) from any thread, C++ included.
  Without strace that one test is skipped and says why; the other two still run.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.teams import MULTI_TURN

pytest.importorskip("qdrant_client")
pytest.importorskip("onnxruntime")

PROBE = Path(__file__).with_name("net_probe.py")
#: seconds the child stays alive after the run (ONNX Runtime's first look-up came at ~9 s)
LINGER = 15.0
MEMORY_TEAM = MULTI_TURN.format(bob_latency=0.05) + (
    "memory:\n  persistent_memory:\n    enabled: true\n    llm:\n      provider: none\n"
)
_ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')


@dataclass(frozen=True)
class Run:
    done: subprocess.CompletedProcess[str]
    home: Path
    python_calls: list[dict[str, str]]
    #: strace's log, or why strace could not be used
    trace: str | None
    no_trace_reason: str | None


def _strace_usable() -> str | None:
    """``None`` when strace can trace a child here, else the reason it cannot."""
    tool = shutil.which("strace")
    if tool is None:
        return "strace is not installed (apt-get install strace to run the syscall-level check)"
    probe = subprocess.run([tool, "-f", "-qq", "-e", "trace=connect", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Run:
    """One memory-enabled ``massmem run`` in a child with its own HOME, traced when possible."""
    root = tmp_path_factory.mktemp("phone_home")
    home = root / "home"
    home.mkdir()
    team = root / "team.yaml"
    team.write_text(MEMORY_TEAM)
    log = root / "python_calls.json"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # the pytest process imported massmem, which set it
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        MASSMEM_HOME=str(root / "massmem_home"),
        MASSMEM_CACHE_DIR=str(model_cache),
        MASSMEM_EMBED_RUNTIME="onnx",  # the runtime under test, never a silent torch fallback
    )
    command = [sys.executable, str(PROBE), str(log), str(LINGER), "--", "run", "-c", str(team), "Plan a day."]
    reason = _strace_usable()
    trace_file = root / "strace.log"
    if reason is None:
        traced = "trace=connect,sendto,sendmsg,sendmmsg"
        command = ["strace", "-f", "-qq", "-e", traced, "-o", str(trace_file), *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (root / "massmem_home" / "qdrant").exists(), "the run did not use persistent memory"
    assert list(model_cache.glob("models/*.onnx")), "the run did not use the ONNX Runtime embedder"
    return Run(
        done,
        home,
        json.loads(log.read_text()),
        trace_file.read_text() if reason is None else None,
        reason,
    )


def test_no_python_level_connection_or_lookup_leaves_loopback(run: Run) -> None:
    assert run.python_calls == []


def test_onnxruntime_telemetry_never_starts(run: Run) -> None:
    """No device id and no event queue: the uploader was never created, so it cannot phone home."""
    written = [str(p.relative_to(run.home)) for p in run.home.rglob("*") if p.is_file()]
    assert not [p for p in written if "Microsoft" in p or "onnxruntime" in p.lower()], written


def _off_loopback(line: str) -> str | None:
    match = _ADDRESS.search(line)
    if match is None:
        return None
    address = match.group(1) or match.group(2)
    return None if ipaddress.ip_address(address).is_loopback else address


def test_no_dns_query_or_connection_off_loopback_at_syscall_level(run: Run) -> None:
    if run.trace is None:
        pytest.skip(run.no_trace_reason or "no trace")
    calls = [line for line in run.trace.splitlines() if "(" in line]
    # Port 53 only: glibc also asks nscd for passwd entries (torch's getuser()), which is no look-up.
    dns = [line for line in calls if "htons(53)" in line]
    off = [line for line in calls if _off_loopback(line)]
    assert dns == [], f"{len(dns)} DNS look-up(s): {dns[:3]}"
    assert off == [], f"{len(off)} connection(s) off loopback: {off[:3]}"
