"""File-system failures met as a careless user meets them: clear messages, exit 1, no traceback.

Every case runs the real CLI in a child process on a real file system.  The tests run as
root in CI, where permission bits do not stop a write, so "unwritable" is made real in two
other ways: a read-only bind mount in a private mount namespace (``unshare -m``, needs
``CAP_SYS_ADMIN``; skipped where unavailable; as a normal user ``chmod`` is used instead), and
the kernel's file-size limit (``RLIMIT_FSIZE``), which makes the state write fail with
``EFBIG`` exactly as a full disk fails it with ``ENOSPC``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.cli.teams import run_massmem, write_team


def _no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout, done.stdout


def _read_only(folder: Path, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``massmem ARGV`` while ``folder`` is read-only for that process (really, root included)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(stat.S_IMODE(modes[path]) & ~0o222)
        try:
            return run_massmem(*argv)
        finally:
            for path, mode in modes.items():
                path.chmod(stat.S_IMODE(mode))
    if shutil.which("unshare") is None:
        pytest.skip("root without unshare: cannot make a folder read-only")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, str(folder), "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private read-only mount here: {probe.stderr.decode().strip()}")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(folder), sys.executable, "-m", "massmem", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_massmem_home_that_is_a_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = write_team(tmp_path)
    home = tmp_path / "not-a-folder"
    home.write_text("I am a file\n")
    monkeypatch.setenv("MASSMEM_HOME", str(home))
    done = run_massmem("run", "-c", str(team), "--no-display", "Hello?")
    _no_traceback(done)
    assert done.returncode == 1
    assert f"{home} is a file, not a folder" in done.stderr
    assert "MASSMEM_HOME" in done.stderr
    assert home.read_text() == "I am a file\n"


def test_sessions_folder_that_is_a_file_leaves_no_active_row(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    massmem_home.mkdir(parents=True)
    (massmem_home / "sessions").write_text("in the way\n")
    for extra in ((), ("--session-id", "named")):
        done = run_massmem("run", "-c", str(team), "--no-display", *extra, "Hello?")
        _no_traceback(done)
        assert done.returncode == 1, done.stderr
        assert f"{massmem_home / 'sessions'} is a file, not a folder" in done.stderr
    listed = run_massmem("sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_read_only_home_still_lists_sessions_and_refuses_runs_clearly(
    tmp_path: Path, massmem_home: Path
) -> None:
    team = write_team(tmp_path)
    first = run_massmem("run", "-c", str(team), "--no-display", "--session-id", "kept", "Hello?")
    assert first.returncode == 0, first.stderr

    listed = _read_only(massmem_home, ["sessions", "list", "--json"])
    _no_traceback(listed)
    assert listed.returncode == 0, listed.stderr
    assert [s["id"] for s in json.loads(listed.stdout)] == ["kept"]
    assert "readonly" not in listed.stderr

    shown = _read_only(massmem_home, ["sessions", "show", "kept"])
    assert shown.returncode == 0, shown.stderr
    assert "Answer one." in shown.stdout

    refused = _read_only(massmem_home, ["run", "-c", str(team), "--no-display", "Again?"])
    _no_traceback(refused)
    assert refused.returncode == 1
    assert str(massmem_home) in refused.stderr
    assert "MASSMEM_HOME" in refused.stderr


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("output", [["--no-display"], ["--json"], []])
def test_a_state_write_refused_by_the_disk_still_prints_the_answer(
    tmp_path: Path, massmem_home: Path, output: list[str]
) -> None:
    # 256 KiB per file: the registry and the first (empty) state fit; the state holding a
    # 300 KB question does not, so the write after the turn fails with EFBIG.
    team = write_team(tmp_path)
    question = "Why? " + "x" * 300_000
    done = run_massmem(
        "run",
        "-c",
        str(team),
        *output,
        "--session-id",
        "full",
        stdin=question,
        preexec_fn=_file_size_limit(256 * 1024),
    )
    _no_traceback(done)
    assert done.returncode == 1, done.stderr
    assert "Answer one." in done.stdout
    if output == ["--json"]:
        payload = json.loads(done.stdout)
        assert payload["final_answer"] == "Answer one."
        assert payload["saved"] is False
    state = massmem_home / "sessions" / "full" / "state.json"
    assert f"cannot write the session state {state}" in done.stderr
    assert "ulimit -f" in done.stderr
    # The earlier state is whole (the write went to a temporary file), no temporary file is
    # left behind, and the registry says the run failed.
    assert json.loads(state.read_text())["turns"] == []
    assert not [p.name for p in state.parent.iterdir() if p.name.endswith(".tmp")]
    row = json.loads(run_massmem("sessions", "list", "--json").stdout)[0]
    assert row["status"] == "failed"
    assert "not saved" in row["error"]


def test_interactive_turn_the_disk_refuses_prints_the_answer_and_exits_1(
    tmp_path: Path, massmem_home: Path
) -> None:
    team = write_team(tmp_path)
    done = run_massmem(
        "run",
        "-c",
        str(team),
        "-i",
        "--json",
        "--session-id",
        "full",
        stdin="Why? " + "x" * 300_000 + "\nNever asked\n",
        preexec_fn=_file_size_limit(256 * 1024),
    )
    _no_traceback(done)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(p["final_answer"], p["saved"]) for p in lines] == [("Answer one.", False)]
    assert "cannot write the session state" in done.stderr


def test_a_session_folder_that_is_a_symlink_is_never_followed(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (massmem_home / "sessions").mkdir(parents=True)
    (massmem_home / "sessions" / "linked").symlink_to(outside, target_is_directory=True)
    done = run_massmem("run", "-c", str(team), "--no-display", "--session-id", "linked", "Hello?")
    _no_traceback(done)
    assert done.returncode == 1
    assert f"{massmem_home / 'sessions' / 'linked'} is a symbolic link" in done.stderr
    assert list(outside.iterdir()) == []
    listed = json.loads(run_massmem("sessions", "list", "--json").stdout)
    assert listed == []


def test_a_planted_lock_link_is_not_written_through(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    folder = massmem_home / "sessions" / "planted"
    folder.mkdir(parents=True)
    (folder / ".lock").symlink_to(victim)
    done = run_massmem("run", "-c", str(team), "--no-display", "--session-id", "planted", "Hello?")
    _no_traceback(done)
    assert done.returncode == 1
    assert str(folder / ".lock") in done.stderr
    assert victim.read_text() == "precious\n"
