"""``sessions export -o PATH`` writes a regular file, atomically, or says why it did not.

Why: ``-o`` used to replace whatever sat at PATH — a symbolic link, a FIFO, a device (as
root, ``/dev/full`` and ``/dev/stdout`` became regular files) — and a write that failed
(``/dev/full``) was reported as done.  Every case runs the real CLI in a child process.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.teams import run_massmem, write_team


@pytest.fixture
def session(tmp_path: Path, massmem_home: Path) -> str:
    team = write_team(tmp_path)
    done = run_massmem("run", "-c", str(team), "--session-id", "exp", "What is the plan?")
    assert done.returncode == 0, done.stderr
    return "exp"


def _export_to(target: str) -> subprocess.CompletedProcess[str]:
    return run_massmem("sessions", "export", "exp", "-o", target, timeout=30)


def test_a_regular_file_is_replaced_whole(session: str, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("old")
    done = _export_to(str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["session"]["id"] == "exp"
    assert "exported exp to" in done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []


def test_a_symbolic_link_is_refused_and_its_target_untouched(session: str, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    done = _export_to(str(link))
    assert done.returncode == 2
    assert "is a symbolic link" in done.stderr and "-o -" in done.stderr
    assert link.is_symlink() and target.read_text() == "keep me"


def test_a_fifo_is_refused_without_blocking(session: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = _export_to(str(fifo))
    assert done.returncode == 2 and "is a FIFO" in done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize(("name", "minor"), [("full", 7), ("null", 3)])
def test_a_device_is_refused_and_stays_a_device(session: str, tmp_path: Path, name: str, minor: int) -> None:
    """Our own copy of /dev/full and /dev/null: code that replaces its target must not break the host's."""
    device = tmp_path / name
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except (PermissionError, AttributeError) as exc:
        pytest.skip(f"cannot make a device node here ({exc}); needs root")
    done = _export_to(str(device))
    assert done.returncode == 2 and "is a device" in done.stderr
    assert "exported" not in done.stderr
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_a_directory_is_refused(session: str, tmp_path: Path) -> None:
    done = _export_to(str(tmp_path))
    assert done.returncode == 2 and "is a directory" in done.stderr


def test_dash_means_standard_output(session: str, tmp_path: Path) -> None:
    done = run_massmem("sessions", "export", "exp", "-o", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["session"]["id"] == "exp"
    assert not (Path.cwd() / "-").exists()


def test_a_failed_write_is_reported_and_leaves_the_old_file(tmp_path: Path, massmem_home: Path) -> None:
    """A file-size limit (EFBIG) mid-write: an error, exit 1, the earlier export intact.

    The question is long so that the export outgrows the limit while the registry, which the
    command also opens, stays under it.
    """
    team = write_team(tmp_path)
    question = "Plan the trip. " + "Lisbon in May, two adults. " * 4_500  # one argument holds 128 KiB
    assert run_massmem("run", "-c", str(team), "--session-id", "exp", question).returncode == 0
    export_size = len(run_massmem("sessions", "export", "exp").stdout.encode())
    # what the command may write: the registry and its journal (state files are only read)
    written = [p for p in massmem_home.rglob("*") if p.is_file() and "sessions" not in p.parts]
    limit = max(p.stat().st_size for p in written) + 65_536
    assert export_size > 2 * limit, (export_size, limit)
    out = tmp_path / "out.json"
    out.write_text("earlier export")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = run_massmem("sessions", "export", "exp", "-o", str(out), preexec_fn=small_files)
    assert done.returncode == 1, done.stderr
    assert f"cannot write the export to {out}" in done.stderr and "exported" not in done.stderr
    assert out.read_text() == "earlier export"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []


def test_a_missing_folder_is_reported(session: str, tmp_path: Path) -> None:
    done = _export_to(str(tmp_path / "no" / "such" / "out.json"))
    assert done.returncode == 1 and "cannot write the export" in done.stderr
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(not Path("/dev/full").is_char_device(), reason="no /dev/full on this system")
def test_standard_output_on_a_full_device_is_an_error(session: str) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "massmem", "sessions", "export", "exp"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "cannot write the export to standard output" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
