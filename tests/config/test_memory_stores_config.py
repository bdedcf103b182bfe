"""``memory_stores`` and agents' ``memories``: valid configs load; each mistake is reported with
its dotted path and line, in process and through ``python -m massmem validate``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from massmem.config import load_config
from massmem.config.schema import FileStoreConfig, ListStoreConfig, TeamConfig
from massmem.errors import ConfigError
from tests.config.conftest import run_validate


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


AGENT = ("agents:", "  - id: a", "    backend: {type: scripted}")


@dataclass
class Case:
    id: str
    text: str
    path: str
    line: int
    contains: tuple[str, ...]


CASES = [
    Case(
        "unknown_store_name",
        lines(
            *AGENT, "    memories:", "      - name: notse", "memory_stores:", "  - {name: notes, type: list}"
        ),
        "agents[0].memories[0].name",
        5,
        ("not declared under memory_stores", "did you mean 'notes'?"),
    ),
    Case(
        "duplicate_store_names",
        lines(
            *AGENT,
            "memory_stores:",
            "  - name: notes",
            "    type: list",
            "  - name: notes",
            "    type: blackboard",
        ),
        "memory_stores[1].name",
        7,
        ("used twice", "line 5"),
    ),
    Case(
        "unknown_store_type",
        lines(*AGENT, "memory_stores:", "  - name: v", "    type: vectr"),
        "memory_stores[0].type",
        6,
        ("unknown memory store type 'vectr'", "did you mean 'vector'?"),
    ),
    Case(
        "missing_store_type",
        lines(*AGENT, "memory_stores:", "  - name: v"),
        "memory_stores[0]",
        5,
        ("has no 'type'",),
    ),
    Case(
        "unknown_option_for_type",
        lines(
            *AGENT,
            "memory_stores:",
            "  - name: b",
            "    type: blackboard",
            "    config:",
            "      max_item: 3",
        ),
        "memory_stores[0].config.max_item",
        8,
        ("unknown key 'max_item'", "did you mean 'max_items'?"),
    ),
    Case(
        "option_of_another_type",
        lines(*AGENT, "memory_stores:", "  - name: l", "    type: list", "    config: {persist: true}"),
        "memory_stores[0].config.persist",
        7,
        ("unknown key 'persist'",),
    ),
    Case(
        "file_store_needs_path",
        lines(*AGENT, "memory_stores:", "  - name: kb", "    type: file", "    config: {recursive: false}"),
        "memory_stores[0].config.path",
        7,
        ("'path' is required",),
    ),
    Case(
        "write_to_read_only_store",
        lines(
            *AGENT,
            "    memories:",
            "      - name: kb",
            "        write: true",
            "memory_stores:",
            "  - {name: kb, type: file, config: {path: docs}}",
        ),
        "agents[0].memories[0].write",
        6,
        ("read-only 'file' store",),
    ),
    Case(
        "bad_retrieve_stage",
        lines(
            *AGENT,
            "    memories:",
            "      - name: n",
            "        retrieve_stage: first",
            "memory_stores:",
            "  - {name: n, type: list}",
        ),
        "agents[0].memories[0].retrieve_stage",
        6,
        ("first_call",),
    ),
    Case(
        "threshold_out_of_range",
        lines(
            *AGENT,
            "    memories:",
            "      - name: n",
            "        similarity_threshold: 1.5",
            "memory_stores:",
            "  - {name: n, type: list}",
        ),
        "agents[0].memories[0].similarity_threshold",
        6,
        (),
    ),
    Case(
        "unsafe_store_name",
        lines(*AGENT, "memory_stores:", "  - {name: ../up, type: list}"),
        "memory_stores[0].name",
        5,
        ("not a safe name",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_loader_locates_the_problem(case: Case, write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(case.text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = {i.path: i for i in info.value.issues}
    assert case.path in found, f"{case.path!r} not among {list(found)}"
    issue = found[case.path]
    assert issue.line == case.line
    text = f"{issue.message} {issue.hint or ''}"
    for part in case.contains:
        assert part in text
    assert all(i.path for i in info.value.issues), "a located issue must not be repeated without a path"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_validate_reports_path_and_line(
    case: Case, write_config: Callable[..., Path], workdir: Path
) -> None:
    path = write_config(case.text)
    result = run_validate(str(path), cwd=workdir)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert f":{case.line}: {case.path}:" in result.output, result.output
    for part in case.contains:
        assert part in result.output


def test_a_valid_config_loads_typed(write_config: Callable[..., Path], workdir: Path) -> None:
    text = lines(
        *AGENT,
        "    memories:",
        "      - {name: notes, write: true, top_k: 5}",
        "      - {name: kb, retrieve_stage: first_call, similarity_threshold: 0.2}",
        "memory_stores:",
        "  - {name: notes, type: list}",
        "  - name: kb",
        "    type: file",
        "    config: {path: docs, suffixes: [.md], retrieval: lexical}",
    )
    config = load_config(write_config(text))
    notes, kb = config.memory_stores
    assert isinstance(notes, ListStoreConfig) and isinstance(kb, FileStoreConfig)
    assert kb.config.suffixes == [".md"] and kb.config.recursive is True
    first, second = config.agents[0].memories
    assert (first.write, first.read, first.top_k) == (True, True, 5)
    assert (second.retrieve_stage, second.similarity_threshold, second.write) == ("first_call", 0.2, False)
    assert run_validate(str(write_config(text)), cwd=workdir).code == 0


def test_library_users_get_the_cross_reference_errors_too() -> None:
    with pytest.raises(ValueError, match="not declared under memory_stores"):
        TeamConfig.model_validate(
            {"agents": [{"id": "a", "backend": {"type": "scripted"}, "memories": [{"name": "x"}]}]}
        )
