"""The team cross-checks are written once: a file and a model built in code get the same words.

The loader runs them on the YAML it read (with lines and hints, even past other errors);
``TeamConfig`` runs them on its own data.  Each case here must fail both ways, saying the same.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from massmem.config import load_config_text
from massmem.config.schema import TeamConfig
from massmem.config.schema.crosschecks import cross_check
from massmem.errors import ConfigError

SCRIPTED = {"type": "scripted"}

CASES: dict[str, dict[str, Any]] = {
    "duplicate_agent_id": {"agents": [{"id": "a", "backend": SCRIPTED}, {"id": "a", "backend": SCRIPTED}]},
    "duplicate_store_name": {
        "agents": [{"id": "a", "backend": SCRIPTED}],
        "memory_stores": [{"name": "n", "type": "list"}, {"name": "n", "type": "blackboard"}],
    },
    "undeclared_store": {"agents": [{"id": "a", "backend": SCRIPTED, "memories": [{"name": "notes"}]}]},
    "write_to_read_only_store": {
        "agents": [{"id": "a", "backend": SCRIPTED, "memories": [{"name": "kb", "write": True}]}],
        "memory_stores": [{"name": "kb", "type": "file", "config": {"path": "docs"}}],
    },
}


@pytest.mark.parametrize("data", CASES.values(), ids=list(CASES))
def test_file_and_model_say_the_same(data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as from_file:
        load_config_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ValidationError) as from_model:
        TeamConfig.model_validate(data)
    (issue,) = from_file.value.issues
    assert issue.line is not None and issue.path
    assert from_model.value.errors()[0]["msg"] == f"Value error, {issue.message}"


def test_plain_data_without_lines_has_no_lines() -> None:
    (issue,) = cross_check(CASES["undeclared_store"], {})
    assert (issue.path, issue.line) == ("agents[0].memories[0].name", None)
