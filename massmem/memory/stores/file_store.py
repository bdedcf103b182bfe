"""``file``: a read-only knowledge base built from a folder of documents.

Documents whose name ends in one of ``suffixes`` are split into overlapping chunks
(broken at paragraph, line or sentence ends where possible).  The index — each file's
SHA-256, its chunks and, for ``retrieval: embedding``, their vectors from massmem's own
embedder — is kept in ``MASSMEM_HOME/memory_stores/file-<name>/index.json``.  Opening
the store again re-reads only files whose hash changed, drops deleted files and keeps
the rest; changing the chunk settings or the embedder rebuilds everything.

The index is built on first use, in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.errors import MemoryError_
from massmem.memory.stores.base import MemoryResult, MemoryStore, lexical_similarity, store_dir, terms
from massmem.paths import atomic_write_text

if TYPE_CHECKING:
    from massmem.memory.embedder import Embedder

__all__ = ["FileStore", "chunk_text"]

_INDEX = "index.json"
_VERSION = 1


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """Overlapping chunks of at most ``size`` characters, cut at natural breaks when one is near."""
    text = text.strip()
    if not text:
        return []
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            window = text[start:end]
            for mark in ("\n\n", "\n", ". "):
                cut = window.rfind(mark)
                if cut >= size // 2:
                    end = start + cut + len(mark)
                    break
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return chunks


class FileStore(MemoryStore):
    type_name = "file"
    writable = False

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        suffixes: Sequence[str] = (".md", ".txt", ".rst"),
        recursive: bool = True,
        chunk_chars: int = 1200,
        chunk_overlap: int = 150,
        embedder: Embedder | None = None,
        index_path: Path | None = None,
    ) -> None:
        super().__init__(name)
        self.root = root.expanduser()
        self.suffixes = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
        self.recursive = recursive
        self.chunk_chars = chunk_chars
        self.chunk_overlap = chunk_overlap
        self.embedder = embedder
        self.index_path = index_path if index_path is not None else store_dir(name, self.type_name) / _INDEX
        #: relative paths (re)indexed by the last refresh — the rest came from the saved index
        self.last_indexed: list[str] = []
        self._files: dict[str, dict[str, Any]] = {}
        self._rows: list[tuple[str, int, str, set[str]]] = []
        self._matrix: Any = None
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Any) -> FileStore:
        options = config.config
        embedder = None
        if options.retrieval == "embedding":
            from massmem.memory.embedder import create_embedder

            embedder = create_embedder(options.embedding)
        return cls(
            config.name,
            Path(options.path),
            suffixes=options.suffixes,
            recursive=options.recursive,
            chunk_chars=options.chunk_chars,
            chunk_overlap=options.chunk_overlap,
            embedder=embedder,
        )

    # -- index --------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "chunk_chars": self.chunk_chars,
            "chunk_overlap": self.chunk_overlap,
            "embedder": None if self.embedder is None else f"{self.embedder.name}/{self.embedder.dims}",
        }

    def _documents(self) -> dict[str, Path]:
        if self.root.is_file():
            return {self.root.name: self.root}
        if not self.root.is_dir():
            raise MemoryError_(f"memory store {self.name!r}: no such folder {self.root}")
        found = self.root.rglob("*") if self.recursive else self.root.glob("*")
        return {
            p.relative_to(self.root).as_posix(): p
            for p in sorted(found)
            if p.is_file() and p.suffix.lower() in self.suffixes
        }

    def _load_index(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("settings") != self._settings():
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def refresh(self) -> list[str]:
        """Bring the index in step with the folder; returns the files that were (re)indexed."""
        with self._lock:
            saved = self._load_index()
            files: dict[str, dict[str, Any]] = {}
            changed: list[str] = []
            for rel, path in self._documents().items():
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                old = saved.get(rel)
                if old is not None and old.get("sha256") == digest:
                    files[rel] = old
                    continue
                text = data.decode("utf-8", errors="replace")
                chunks = chunk_text(text, self.chunk_chars, self.chunk_overlap)
                entry: dict[str, Any] = {"sha256": digest, "chunks": chunks}
                if self.embedder is not None and chunks:
                    vectors = self.embedder.embed(chunks)
                    entry["vectors"] = [[round(float(x), 6) for x in row] for row in vectors]
                files[rel] = entry
                changed.append(rel)
            if changed or set(files) != set(saved):
                self._save(files)
            self._files = files
            self._build_rows()
            self.last_indexed = changed
            self._ready = True
            return changed

    def _save(self, files: dict[str, dict[str, Any]]) -> None:
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"settings": self._settings(), "files": files})
        atomic_write_text(self.index_path, text, durable=False)  # an index: rebuilt if lost

    def _build_rows(self) -> None:
        import numpy as np

        rows: list[tuple[str, int, str, set[str]]] = []
        vectors: list[Any] = []
        for rel, entry in sorted(self._files.items()):
            for i, chunk in enumerate(entry.get("chunks", [])):
                rows.append((rel, i, chunk, terms(chunk)))
            if self.embedder is not None:
                vectors.extend(entry.get("vectors", []))
        self._rows = rows
        if self.embedder is not None and rows:
            self._matrix = np.asarray(vectors, dtype=np.float32)
        else:
            self._matrix = None

    @property
    def chunk_count(self) -> int:
        return len(self._rows)

    # -- protocol -----------------------------------------------------------------------------

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        self._refuse_write()

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        if not self._ready:
            await asyncio.to_thread(self.refresh)
        return await asyncio.to_thread(self._search, text, top_k, similarity_threshold)

    def _search(self, text: str, top_k: int, threshold: float) -> list[MemoryResult]:
        if not self._rows or not text.strip():
            return []
        if self._matrix is not None and self.embedder is not None:
            import numpy as np

            scores = np.clip(self._matrix @ self.embedder.embed_one(text), 0.0, 1.0)
            ranked = [(float(scores[i]), i) for i in range(len(self._rows))]
        else:
            wanted = terms(text)
            ranked = [(lexical_similarity(wanted, row[3]), i) for i, row in enumerate(self._rows)]
        ranked.sort(key=lambda pair: (-pair[0], pair[1]))
        out = []
        for score, i in ranked[:top_k]:
            if score < threshold or score <= 0.0:
                continue
            rel, chunk_no, chunk, _ = self._rows[i]
            out.append(MemoryResult(chunk, "text/plain", {"source": rel, "chunk": chunk_no}, score))
        return out

    async def clear(self) -> None:
        """Drop the saved index (the documents are untouched; the next query rebuilds it)."""
        with self._lock:
            self.index_path.unlink(missing_ok=True)
            self._files, self._rows, self._matrix, self._ready = {}, [], None, False
