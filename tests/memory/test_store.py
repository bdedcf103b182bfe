"""The shared store registry, the cross-process lock, telemetry and cheap imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from massmem.config.schema import QdrantConfig
from massmem.errors import MemoryError_, StoreLocked
from massmem.memory.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEM0_")}
    env.update(extra)
    return env


def test_one_client_per_store_path_in_a_process(massmem_home: Path) -> None:
    first = open_store()
    assert first.path == (massmem_home / "qdrant").resolve()
    assert open_store(QdrantConfig(mode="local")) is first
    assert open_store(QdrantConfig(path=str(massmem_home / "qdrant" / ".." / "qdrant"))) is first
    other = open_store(QdrantConfig(path=str(massmem_home / "elsewhere")))
    assert other is not first and other.engine is not first.engine


def test_second_process_gets_store_locked_fast(massmem_home: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "shared store"
    store = open_store(QdrantConfig(path=str(store_path)))
    store.ensure_collection("probe", 8)
    result = _run(
        """
        import os, time
        from massmem.config.schema import QdrantConfig
        from massmem.errors import StoreLocked
        from massmem.memory.store import open_store
        started = time.perf_counter()
        try:
            open_store(QdrantConfig(path=os.environ["STORE_PATH"]))
        except StoreLocked as exc:
            print(f"LOCKED {time.perf_counter() - started:.3f}")
            print(exc)
        else:
            print("OPENED")
        """,
        _env(MASSMEM_HOME=str(massmem_home), STORE_PATH=str(store_path)),
    )
    assert result.returncode == 0, result.stderr
    first, message = result.stdout.split("\n", 1)
    assert first.startswith("LOCKED"), result.stdout
    assert float(first.split()[1]) < 1.0
    assert str(store_path.resolve()) in message
    assert f"pid {os.getpid()}" in message
    assert "docker compose -f docker-compose.qdrant.yml up -d" in message
    assert "qdrant.mode: server" in message

    # once the first process lets go, the folder opens again
    store.close()
    result = _run(
        f"""
        from massmem.config.schema import QdrantConfig
        from massmem.memory.store import open_store
        open_store(QdrantConfig(path={str(store_path)!r}))
        print("OPENED")
        """,
        _env(MASSMEM_HOME=str(massmem_home)),
    )
    assert result.stdout.strip() == "OPENED", result.stderr


def test_store_locked_is_a_memory_error() -> None:
    assert issubclass(StoreLocked, MemoryError_)


def test_unreachable_server_fails_clearly() -> None:
    with pytest.raises(MemoryError_) as info:
        open_store(QdrantConfig(mode="server", host="127.0.0.1", port=9))
    assert "docker compose -f docker-compose.qdrant.yml up -d" in str(info.value)


def test_collection_dimension_mismatch_is_refused() -> None:
    store = open_store()
    store.ensure_collection("vectors", 8)
    store.close()
    store = open_store()
    with pytest.raises(MemoryError_, match="8-dimensional"):
        store.ensure_collection("vectors", 16)


def test_mem0_telemetry_is_off_unless_asked(massmem_home: Path) -> None:
    code = """
        import os
        from massmem.memory.mem0_setup import import_mem0
        import_mem0()
        import mem0.memory.main as main
        import mem0.memory.telemetry as telemetry
        from massmem.memory._mem0_adapters import build_memory
        from massmem.memory.embedder import LocalEmbedder
        from massmem.memory.store import open_store
        memory = build_memory(open_store(), "probe", LocalEmbedder(), llm_provider="massmem",
                              extract_fn=lambda m: "{}", history_db_path=os.path.join(os.environ["MASSMEM_HOME"], "h.db"))
        print(telemetry.MEM0_TELEMETRY, main.MEM0_TELEMETRY, telemetry.client_telemetry.posthog is None,
              hasattr(memory, "_telemetry_vector_store"), os.environ["MEM0_DIR"])
    """
    result = _run(code, _env(MASSMEM_HOME=str(massmem_home)))
    assert result.returncode == 0, result.stderr
    telemetry, main, no_client, telemetry_store, mem0_dir = result.stdout.split()
    assert (telemetry, main, no_client, telemetry_store) == ("False", "False", "True", "False")
    assert Path(mem0_dir) == massmem_home / "mem0"

    # the user's own choice is respected
    result = _run(
        "from massmem.memory.mem0_setup import telemetry_enabled; print(telemetry_enabled())",
        _env(MASSMEM_HOME=str(massmem_home), MEM0_TELEMETRY="true"),
    )
    assert result.stdout.strip() == "True"


def test_importing_memory_stays_cheap() -> None:
    code = """
        import sys
        import massmem.memory
        import massmem.memory.persistent, massmem.memory.shared, massmem.memory.store
        import massmem.memory.embedder, massmem.memory.retrieval, massmem.memory.debug
        import massmem.memory.doctor, massmem.memory.extraction, massmem.memory.bm25
        heavy = ("torch", "mem0", "qdrant_client", "sentence_transformers", "transformers", "numpy")
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
    """
    result = _run(code, _env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
