"""A ``state.json`` that is valid JSON of the wrong shape is unreadable, like a torn file.

Why: ``"agents": [1]`` once passed the reader and failed later with a traceback, on every
``sessions show`` and every resume, and the file stayed in place.  It is now checked against
the dataclasses that write it, moved aside and reported in one clear line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from massmem.errors import StateCorrupt
from massmem.sessions.state import SessionState, TurnState, load_state, save_state
from tests.cli.teams import run_massmem, write_team


def _saved(session_id: str) -> dict[str, Any]:
    state = SessionState(session_id)
    state.add_turn(TurnState(1, "q", "a", "alice"))
    return json.loads(save_state(state).read_text())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"agents": [1]}, "agents"),
        ({"turns": [1]}, "turns.0"),
        (
            {"turns": [{"number": "one", "question": "q", "final_answer": "a", "winner": "w"}]},
            "turns.0.number",
        ),
        ({"reset_after": [3]}, "reset_after"),
        ({"agents": {"alice": {"conversation": "text", "summaries": []}}}, "agents.alice.conversation"),
    ],
)
def test_a_wrong_shape_is_set_aside_naming_the_field(
    massmem_home: Path, change: dict[str, Any], named: str
) -> None:
    path = massmem_home / "sessions" / "shaped" / "state.json"
    data = _saved("shaped")
    path.write_text(json.dumps({**data, **change}))
    with pytest.raises(StateCorrupt, match=r"moved to .*state\.json\.corrupt-") as failure:
        load_state("shaped")
    assert named in str(failure.value)
    assert not path.exists()
    assert len(list(path.parent.glob("state.json.corrupt-*"))) == 1


def test_a_well_formed_state_still_loads(massmem_home: Path) -> None:
    data = _saved("fine")
    state = load_state("fine")
    assert state is not None and state.to_dict()["turns"] == data["turns"]


def test_show_and_resume_report_it_without_a_traceback(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    assert run_massmem("run", "-c", str(team), "--session-id", "bent", "q").returncode == 0
    path = massmem_home / "sessions" / "bent" / "state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "agents": [1]}))

    shown = run_massmem("sessions", "show", "bent")
    assert shown.returncode == 1
    assert "Traceback" not in shown.stderr and "agents" in shown.stderr and "moved to" in shown.stderr
    assert not path.exists()

    path.write_text(json.dumps({**json.loads(next(path.parent.glob("*.corrupt-*")).read_text())}))
    resumed = run_massmem("run", "-c", str(team), "--session-id", "bent", "again")
    assert resumed.returncode == 1
    assert "Traceback" not in resumed.stderr and "moved to" in resumed.stderr
    # the next run carries on without the set-aside history, numbering after the registry's turns
    again = run_massmem("run", "-c", str(team), "--session-id", "bent", "--json", "once more")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["turn"] == 2
