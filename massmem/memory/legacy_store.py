"""Converting a store written by an earlier massmem (``qdrant-client``'s local mode) to Qdrant Edge.

Older massmem kept local memory in ``qdrant-client``'s local-mode folder (``meta.json`` and
``collection/<name>/storage.sqlite``) with an SQLite FTS5 index beside it.  On the first open
by this version every collection is copied, point for point with its vector and payload, into
Edge shards built next to it, with a progress bar on stderr.  The copy is made in a
``*.converting`` folder and renamed only when complete, so an interrupted conversion starts
again on the next open; the old files are then moved, untouched, into ``legacy-qdrant-local/``
(delete that folder once you are happy with the converted store).
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from massmem.errors import MemoryError_

__all__ = ["LEGACY_FOLDER", "convert_legacy_store", "is_legacy_store"]

log = logging.getLogger(__name__)

LEGACY_FOLDER = "legacy-qdrant-local"
_LEGACY_FILES = (
    "meta.json",
    "collection",
    "massmem_lexical.sqlite3",
    "massmem_lexical.sqlite3-wal",
    "massmem_lexical.sqlite3-shm",
    ".lock",
)
_PAGE = 1024


def is_legacy_store(path: Path) -> bool:
    return (path / "meta.json").is_file() and (path / "collection").is_dir()


def convert_legacy_store(path: Path, target: Path) -> int:
    """Convert the legacy store in ``path`` into Edge shards in ``target``; the points copied."""
    if not is_legacy_store(path):
        return 0
    if target.exists():
        raise MemoryError_(
            f"the memory store {path} holds both an old-format store and a new one ({target.name}/); "
            f"move one of them away (the old one is meta.json and collection/)"
        )
    from qdrant_client import QdrantClient

    from massmem.memory.bm25 import encode_documents
    from massmem.memory.edge_engine import EdgeEngine
    from massmem.memory.points import Write

    staging = target.with_name(target.name + ".converting")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        client = QdrantClient(path=str(path), force_disable_check_same_thread=True)
    except Exception as exc:
        raise MemoryError_(f"could not read the old-format memory store {path}: {exc}") from exc
    copied = 0
    engine = EdgeEngine(staging)
    try:
        names = [c.name for c in client.get_collections().collections]
        totals = {name: int(client.count(name, exact=True).count) for name in names}
        with _Progress(sum(totals.values()), path) as advance:
            for name in names:
                vectors = client.get_collection(name).config.params.vectors
                if isinstance(vectors, dict):
                    vectors = vectors.get("")
                dims = getattr(vectors, "size", None)
                if dims is None:
                    log.warning("memory collection %s has no dense vector; not converted", name)
                    continue
                engine.create(name, int(dims))
                offset = None
                while True:
                    points, offset = client.scroll(
                        name, limit=_PAGE, offset=offset, with_payload=True, with_vectors=True
                    )
                    writes = []
                    for p in points:
                        vector: Any = p.vector.get("") if isinstance(p.vector, dict) else p.vector
                        if isinstance(vector, list) and vector and not isinstance(vector[0], list):
                            writes.append(Write(str(p.id), [float(x) for x in vector], dict(p.payload or {})))
                    engine.upsert(name, writes, encode_documents([w.text for w in writes]))
                    copied += len(writes)
                    advance(len(points))
                    if offset is None:
                        break
                if engine.count(name) != totals[name]:
                    raise MemoryError_(
                        f"converting memory collection {name!r} copied {engine.count(name)} of {totals[name]} points"
                    )
    except BaseException:
        engine.close()
        client.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    engine.close()
    client.close()
    staging.rename(target)
    backup = path / LEGACY_FOLDER
    backup.mkdir(exist_ok=True)
    for name in _LEGACY_FILES:
        if (path / name).exists():
            (path / name).rename(backup / name)
    print(
        f"massmem: converted the memory store {path} to the new engine ({copied} memories); "
        f"the old files are in {backup} (delete it when you no longer need it)",
        file=sys.stderr,
    )
    return copied


class _Progress:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, total: int, path: Path) -> None:
        self.total = total
        self.path = path
        self._bar = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        if sys.stderr.isatty() and self.total:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
            task = self._bar.add_task(f"converting memory store {self.path.name}", total=self.total)
            return lambda n: self._bar.advance(task, n)  # type: ignore[union-attr]
        return lambda n: None

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
