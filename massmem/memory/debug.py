"""Memory debug dumps: what a turn sent to memory and what came out of it.

With debugging on, every record call writes
``<log_dir>/memory_debug/<agent_id>/turn_<n>_<timestamp>.json`` holding the messages sent,
the facts extracted, the extraction LLM's answer and the turn's metadata — enough to see
why a turn produced no facts, or the wrong ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from massmem.paths import atomic_write_text, safe_child

__all__ = ["debug_dir_for", "write_memory_debug"]


def debug_dir_for(log_dir: str | Path, agent_id: str) -> Path:
    return safe_child(Path(log_dir) / "memory_debug", agent_id)


def write_memory_debug(
    log_dir: str | Path,
    *,
    agent_id: str,
    turn: int,
    session_id: str | None,
    messages_sent: Sequence[Mapping[str, Any]],
    facts_extracted: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any] | None = None,
    llm_answer: str | None = None,
) -> Path:
    """Write one dump atomically and return its path."""
    folder = debug_dir_for(log_dir, agent_id)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now()
    document = {
        "timestamp": now.isoformat(),
        "agent_id": agent_id,
        "session_id": session_id,
        "turn": turn,
        "metadata": dict(metadata or {}),
        "messages_sent": [dict(m) for m in messages_sent],
        "facts_extracted": [dict(f) for f in facts_extracted],
        "extraction_count": len(facts_extracted),
        "llm_answer": llm_answer,
    }
    stem = f"turn_{int(turn)}_{now.strftime('%Y%m%d_%H%M%S_%f')}"
    target = folder / f"{stem}.json"
    n = 1
    while target.exists():
        target = folder / f"{stem}_{n}.json"
        n += 1
    atomic_write_text(target, json.dumps(document, ensure_ascii=False, indent=2, default=str), durable=False)
    return target
