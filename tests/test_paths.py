"""``paths.atomic_write_text``: the one way massmem replaces a small file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from massmem.paths import atomic_write_text


@pytest.mark.parametrize("durable", [True, False])
def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    target = tmp_path / "state.json"
    atomic_write_text(target, '{"turn": 1}', durable=durable)
    assert target.read_text(encoding="utf-8") == '{"turn": 1}'

    def refuse(src: str, dst: str) -> None:  # a full disk or a crash between write and rename
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, '{"turn": 2}', durable=durable)
    assert target.read_text(encoding="utf-8") == '{"turn": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_link_at_the_path_is_replaced_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not massmem's", encoding="utf-8")
    link = tmp_path / "export.json"
    link.symlink_to(elsewhere)
    atomic_write_text(link, "[]")
    assert not link.is_symlink() and link.read_text(encoding="utf-8") == "[]"
    assert elsewhere.read_text(encoding="utf-8") == "not massmem's"
