"""Checks that persistent memory can work here: keys, embedder, extraction LLM, Qdrant, round trip.

:func:`check_memory_setup` runs each check in order and returns one :class:`Check` per step;
:func:`format_checks` prints one line each.  ``massmem doctor`` and
``scripts/test_memory_setup.py`` are thin wrappers around the two.  A check that cannot
apply (no key needed, no extraction LLM wired) is reported as skipped, which is not a
failure.  The round trip writes to a collection of its own and deletes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from massmem.errors import redact

if TYPE_CHECKING:
    from massmem.config.schema import MemoryConfig, PersistentMemoryConfig
    from massmem.memory.extraction import ExtractFn

__all__ = ["Check", "check_memory_setup", "checks_passed", "format_checks"]

_LLM_KEY_VARS = {
    "openai": "OPENAI_API_KEY",
    "openai_structured": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "groq": "GROQ_API_KEY",
    "together": "TOGETHER_API_KEY",
    "gemini": "GOOGLE_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "azure_openai": "AZURE_OPENAI_API_KEY",
}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # "ok" | "fail" | "skip"
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "fail"


def checks_passed(checks: list[Check]) -> bool:
    return all(c.ok for c in checks)


def format_checks(checks: list[Check]) -> str:
    marks = {"ok": "PASS", "fail": "FAIL", "skip": "SKIP"}
    width = max((len(c.name) for c in checks), default=0)
    return "\n".join(f"[{marks[c.status]}] {c.name.ljust(width)}  {c.detail}" for c in checks)


def _run(name: str, fn: Callable[[], tuple[str, str]]) -> Check:
    started = time.perf_counter()
    try:
        status, detail = fn()
    except Exception as exc:
        return Check(name, "fail", f"{type(exc).__name__}: {redact(str(exc))}")
    return Check(name, status, f"{detail} ({(time.perf_counter() - started) * 1000:.0f} ms)")


def check_memory_setup(
    config: MemoryConfig | PersistentMemoryConfig | None = None,
    *,
    extract_fn: ExtractFn | None = None,
) -> list[Check]:
    """Run every check; never raises."""
    from massmem.config.schema import MemoryConfig, PersistentMemoryConfig

    if isinstance(config, MemoryConfig):
        pconfig = config.persistent_memory
    elif isinstance(config, PersistentMemoryConfig):
        pconfig = config
    else:
        pconfig = PersistentMemoryConfig(enabled=True)
    checks: list[Check] = []
    state: dict[str, Any] = {}

    checks.append(_run("API keys", lambda: _check_keys(pconfig)))
    checks.append(_run("embedder", lambda: _check_embedder(pconfig, state)))
    checks.append(_run("extraction LLM", lambda: _check_llm(pconfig, extract_fn)))
    checks.append(_run("Qdrant", lambda: _check_qdrant(pconfig, state)))
    if "embedder" in state and "store" in state:
        checks.append(_run("record -> retrieve", lambda: _check_round_trip(pconfig, state, extract_fn)))
    else:
        checks.append(Check("record -> retrieve", "fail", "not run: the embedder or Qdrant check failed"))
    return checks


def _check_keys(pconfig: PersistentMemoryConfig) -> tuple[str, str]:
    from massmem.memory.embedder import key_variable

    needed: list[tuple[str, str, bool]] = []  # (what, variable, given in config)
    var = key_variable(pconfig.embedding.provider)
    if var:
        needed.append(("embedding", var, pconfig.embedding.api_key is not None))
    provider = (pconfig.llm.provider or "agent").lower()
    llm_var = _LLM_KEY_VARS.get(provider)
    if llm_var:
        needed.append(("extraction LLM", llm_var, pconfig.llm.api_key is not None))
    if not needed:
        return "skip", "no key needed (local embedder; extraction through the agent's backend)"
    missing = [f"{what} needs {v}" for what, v, given in needed if not given and not os.environ.get(v)]
    if missing:
        raise RuntimeError("; ".join(missing))
    return "ok", ", ".join(f"{v} set" for _, v, _ in needed)


def _check_embedder(pconfig: PersistentMemoryConfig, state: dict[str, Any]) -> tuple[str, str]:
    import numpy as np

    from massmem.memory.embedder import create_embedder

    embedder = create_embedder(pconfig.embedding)
    vectors = embedder.embed(["Qdrant stores the vectors.", "Vectors are kept in Qdrant."])
    if vectors.shape != (2, embedder.dims):
        raise RuntimeError(f"expected 2 x {embedder.dims} vectors, got {vectors.shape}")
    similarity = float(np.dot(vectors[0], vectors[1]))
    state["embedder"] = embedder
    runtime = getattr(embedder, "runtime", None)
    if runtime == "onnx":  # int8 or float32 by the CPU: why this machine embeds as fast as it does
        from massmem.memory.onnx_minilm import precision

        runtime = f"onnx, {precision()}"
    how = f" ({runtime} runtime)" if runtime else ""
    return "ok", f"{embedder.name}{how}, {embedder.dims} dimensions, paraphrase similarity {similarity:.2f}"


def _check_llm(pconfig: PersistentMemoryConfig, extract_fn: ExtractFn | None) -> tuple[str, str]:
    from massmem.memory.extraction import parse_extraction

    provider = (pconfig.llm.provider or "agent").lower()
    if provider in ("none", "off", "disabled"):
        return "skip", "fact extraction is off (raw records only)"
    sample = [
        {"role": "system", "content": "Extract memories."},
        {
            "role": "user",
            "content": "## New Messages\nuser: Our billing database is Postgres 16.\n\n# Output:",
        },
    ]
    if provider == "agent":
        if extract_fn is None:
            return "skip", "provider 'agent': each agent's own backend extracts facts during a run"
        answer = extract_fn(sample)
        where = "agent backend"
    else:
        from massmem.memory.mem0_setup import import_mem0
        from massmem.memory.persistent import _native_llm_config

        import_mem0()
        from mem0.utils.factory import LlmFactory

        llm = LlmFactory.create(provider, _native_llm_config(pconfig) or None)
        answer = llm.generate_response(sample, response_format={"type": "json_object"})
        where = f"mem0 provider {provider}"
    facts = parse_extraction(answer)
    if facts is None:
        return (
            "fail",
            f"{where} answered, but not with the JSON memories need (raw text will be kept instead)",
        )
    return "ok", f"{where} answered with {len(facts)} fact(s)"


def _check_qdrant(pconfig: PersistentMemoryConfig, state: dict[str, Any]) -> tuple[str, str]:
    from massmem.memory.store import open_store

    store = open_store(pconfig.qdrant, on_disk=pconfig.on_disk)
    names = store.collections()
    state["store"] = store
    return "ok", f"{store.describe()}, {len(names)} collection(s)"


def _check_round_trip(
    pconfig: PersistentMemoryConfig, state: dict[str, Any], extract_fn: ExtractFn | None
) -> tuple[str, str]:
    from massmem.memory.persistent import PersistentMemory

    store = state["store"]
    collection = f"massmem_doctor_{uuid.uuid4().hex[:8]}"
    memory = PersistentMemory(
        pconfig,
        agent_id="doctor",
        session_id="doctor",
        embedder=state["embedder"],
        store=store,
        collection=collection,
        extract_fn=extract_fn,
    )
    try:
        fact = "The massmem doctor stored this note about the zebra-striped umbrella."
        result = memory.record_sync(
            [
                {"role": "user", "content": "Please remember the umbrella."},
                {"role": "assistant", "content": fact},
            ],
            turn=1,
        )
        hits = memory.retrieve_sync("Which umbrella did the doctor note?", limit=3)
        if not hits or not any("umbrella" in h.text for h in hits):
            raise RuntimeError("a record written just now was not retrieved")
        return (
            "ok",
            f"recorded {len(result.raw_ids)} record(s), extraction {result.extraction}, retrieved it back",
        )
    finally:
        memory.close()
        with contextlib.suppress(Exception):
            store.drop_collection(collection)
