"""Helpers for config tests: write a YAML file, run ``python -m massmem validate`` on it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.teams import run_massmem


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_validate(
    *args: str, cwd: Path, env: dict[str, str] | None = None, unset: tuple[str, ...] = ()
) -> CliResult:
    """Run the real CLI in a child process, from ``cwd`` so no stray ``.env`` is picked up."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    for name in unset:
        child_env.pop(name, None)
    proc = run_massmem("validate", *args, cwd=cwd, env=child_env)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, so a developer's own ``.env`` never leaks into a test."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "team.yaml", folder: Path | None = None) -> Path:
        target = (folder or tmp_path / "cfg") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    return write
