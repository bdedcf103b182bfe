"""``chroma``: entries in an embedded ChromaDB collection, embedded with massmem's own embedder.

The collection lives in a :func:`chromadb.PersistentClient` folder
(``MASSMEM_HOME/memory_stores/chroma-<name>/`` by default, or ``path``), or in chroma's
in-memory client with ``persist: false``.  Its name carries the embedder's slug, so
vectors of different models never mix.

Chroma never embeds anything here: massmem computes every vector (the bundled local
all-MiniLM-L6-v2 by default) and hands it over on add and query, and the collection is
created without an embedding function, so chroma's default ONNX model is never fetched.
Telemetry is off: ``anonymized_telemetry=False``, no OpenTelemetry endpoint, and chroma's
product-telemetry component is replaced by :class:`NoTelemetry`, which drops every event.

Chroma keeps only scalar metadata, so massmem's metadata dict is stored JSON-encoded in one
field (next to ``mime_type`` and ``created_at``) and decoded on query.  ``chromadb`` is
imported only when a store is built; blocking calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from massmem.errors import MemoryError_
from massmem.memory.stores.base import MemoryResult, MemoryStore, now, store_dir

if TYPE_CHECKING:
    from massmem.memory.embedder import Embedder

__all__ = ["INSTALL_HINT", "ChromaStore"]

INSTALL_HINT = "pip install 'massmem[chroma]'"

_T = TypeVar("_T")

#: chroma metadata keys massmem writes (chroma keeps scalars only)
_METADATA = "massmem_metadata"
_MIME = "mime_type"
_CREATED = "created_at"
_RESERVED = frozenset({_METADATA, _MIME, _CREATED})

#: chroma's collection-name rule: 3-512 of ``[A-Za-z0-9._-]``, alphanumeric at both ends, no ``..``
_NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{1,510}[A-Za-z0-9]$")

#: the dotted name chroma's settings resolve its product-telemetry component from
_NO_TELEMETRY = f"{__name__}.NoTelemetry"


def _chromadb() -> Any:
    try:
        import chromadb
    except ImportError as exc:
        raise MemoryError_(
            f"the 'chroma' memory store needs ChromaDB, which is not installed: {INSTALL_HINT}"
        ) from exc
    except Exception as exc:  # e.g. chroma refuses an sqlite3 older than 3.35
        raise MemoryError_(f"the 'chroma' memory store could not load ChromaDB: {exc}") from exc
    return chromadb


def _no_telemetry_class() -> type:
    from chromadb.telemetry.product import ProductTelemetryClient, ProductTelemetryEvent

    class NoTelemetry(ProductTelemetryClient):
        """Chroma's product-telemetry component for massmem: every event is dropped here."""

        def capture(self, event: ProductTelemetryEvent) -> None:
            return None

        # chroma's components require the ``overrides`` package's marker on overriding methods
        capture.__override__ = True  # type: ignore[attr-defined]

    NoTelemetry.__module__ = __name__
    NoTelemetry.__qualname__ = "NoTelemetry"
    return NoTelemetry


def __getattr__(name: str) -> Any:
    # Chroma builds its telemetry component from the dotted name in its settings; the class
    # is made on that first lookup, so importing this module never imports chromadb.
    if name == "NoTelemetry":
        cls = _no_telemetry_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def chroma_settings() -> Any:
    """Settings for every client massmem opens: local, no telemetry, no reset.

    Values are given explicitly (and ``.env`` is not read), so neither environment variables
    nor a ``.env`` file can turn telemetry on or point the client at a server.
    """
    from chromadb.config import Settings

    return Settings(  # type: ignore[call-arg]  # pydantic-settings' init-only option
        _env_file=None,
        chroma_api_impl="chromadb.api.rust.RustBindingsAPI",
        anonymized_telemetry=False,
        chroma_product_telemetry_impl=_NO_TELEMETRY,
        chroma_telemetry_impl=_NO_TELEMETRY,
        chroma_otel_collection_endpoint="",
        allow_reset=False,
    )


def _resolve_path(raw: Path) -> Path:
    path = raw.expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise MemoryError_(f"the chroma store path {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MemoryError_(f"cannot create the chroma store folder {path}: {exc}") from exc
    return path


def _encode(metadata: Mapping[str, Any]) -> str:
    return json.dumps(dict(metadata), ensure_ascii=False, default=str)


def _decode(row: Mapping[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    raw = row.get(_METADATA)
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
    # an entry massmem did not write: its scalar metadata as it is
    return {k: v for k, v in row.items() if k not in _RESERVED}


class ChromaStore(MemoryStore):
    type_name = "chroma"

    def __init__(
        self,
        name: str,
        *,
        embedder: Embedder,
        collection: str | None = None,
        path: Path | None = None,
        persist: bool = True,
    ) -> None:
        from massmem.memory.embedder import collection_slug

        super().__init__(name)
        self._chromadb = _chromadb()  # before anything is written: a missing extra is a clear error
        self.embedder = embedder
        self.persist = persist
        if persist:
            self.path: Path | None = _resolve_path(path if path is not None else store_dir(name, "chroma"))
        elif path is not None:
            raise MemoryError_(f"chroma store {name!r}: path only applies with persist: true")
        else:
            self.path = None
        collection_name = f"massmem_store_{collection or name}_{collection_slug(embedder)}"
        if not persist:
            # chroma has one in-memory database per process: a run-only store keeps to its own collection
            collection_name += f"_run{uuid.uuid4().hex[:8]}"
        if not _NAME_RULE.fullmatch(collection_name) or ".." in collection_name:
            raise MemoryError_(
                f"chroma store {name!r}: {collection_name!r} is not a valid chroma collection name"
            )
        self.collection = collection_name
        self._lock = threading.Lock()
        self._client: Any = None
        self._collection: Any = None
        with self._guard("open the chroma client"):
            if self.path is None:
                self._client = self._chromadb.EphemeralClient(settings=chroma_settings())
            else:
                self._client = self._chromadb.PersistentClient(
                    path=str(self.path), settings=chroma_settings()
                )
        try:
            self._collection = self._open_collection()
        except BaseException:
            self._client.close()
            self._client = None
            raise

    @classmethod
    def from_config(cls, config: Any) -> ChromaStore:
        from massmem.memory.embedder import create_embedder

        options = config.config
        _chromadb()  # the install hint before the embedder loads
        return cls(
            config.name,
            embedder=create_embedder(options.embedding),
            collection=options.collection,
            path=Path(options.path) if options.path else None,
            persist=options.persist,
        )

    # -- chroma calls (worker thread, under the lock) -------------------------------------------

    def where(self) -> str:
        place = f"at {self.path}" if self.path is not None else "in memory"
        return f"collection {self.collection!r} {place}"

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Chroma's own exceptions as :class:`MemoryError_`: what failed, which store, where."""
        try:
            yield
        except MemoryError_:
            raise
        except Exception as exc:
            raise MemoryError_(
                f"chroma store {self.name!r} could not {action} ({self.where()}): {type(exc).__name__}: {exc}"
            ) from exc

    def _open_collection(self) -> Any:
        with self._guard("open the collection"):
            collection = self._client.get_or_create_collection(
                name=self.collection,
                # massmem passes every vector itself: no embedding function, nothing to download
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"massmem_store": self.name, "embedder": self.embedder.name},
            )
            space = (collection.configuration_json.get("hnsw") or {}).get("space", "cosine")
        if space != "cosine":
            raise MemoryError_(
                f"chroma store {self.name!r}: {self.where()} uses the {space!r} distance; "
                "massmem needs 'cosine' (use another collection name, or clear it)"
            )
        return collection

    def _call(self, action: str, fn: Callable[[Any], _T]) -> _T:
        """``fn(collection)`` under the lock; once more on a fresh handle if the collection was
        dropped and recreated meanwhile (another store on the same folder cleared it)."""
        with self._lock:
            if self._client is None:
                raise MemoryError_(f"chroma store {self.name!r} is closed ({self.where()})")
            with self._guard(action):
                try:
                    return fn(self._collection)
                except self._chromadb.errors.NotFoundError:
                    self._collection = self._open_collection()
                    return fn(self._collection)

    # -- protocol ---------------------------------------------------------------------------------

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        await asyncio.to_thread(self._add, content, mime_type, dict(metadata or {}))

    def _add(self, content: str, mime_type: str, metadata: dict[str, Any]) -> None:
        row = {_METADATA: _encode(metadata), _MIME: mime_type, _CREATED: now()}
        vectors = self.embedder.embed([content])
        self._call(
            "add an entry",
            lambda c: c.add(
                ids=[uuid.uuid4().hex], embeddings=vectors.tolist(), documents=[content], metadatas=[row]
            ),
        )

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        if not text.strip() or top_k < 1:
            return []
        return await asyncio.to_thread(self._query, text, top_k, similarity_threshold)

    def _query(self, text: str, top_k: int, threshold: float) -> list[MemoryResult]:
        vectors = self.embedder.embed([text])
        hits = self._call(
            "query",
            lambda c: c.query(
                query_embeddings=vectors.tolist(),
                n_results=top_k,
                include=["documents", "metadatas", "distances"],
            ),
        )
        documents = (hits.get("documents") or [[]])[0]
        rows = (hits.get("metadatas") or [[]])[0]
        distances = (hits.get("distances") or [[]])[0]
        out = []
        for document, row, distance in zip(documents, rows, distances, strict=True):
            # cosine distance is 1 - cosine similarity
            score = min(1.0, max(0.0, 1.0 - float(distance)))
            if score < threshold:
                continue
            out.append(
                MemoryResult(
                    document or "",
                    str((row or {}).get(_MIME) or "text/plain"),
                    _decode(row),
                    score,
                )
            )
        out.sort(key=lambda r: r.score, reverse=True)
        return out[:top_k]

    async def count(self) -> int:
        return await asyncio.to_thread(self._call, "count the entries", lambda c: int(c.count()))

    async def clear(self) -> None:
        await asyncio.to_thread(self._clear)

    def _clear(self) -> None:
        with self._lock:
            if self._client is None:
                raise MemoryError_(f"chroma store {self.name!r} is closed ({self.where()})")
            with (
                self._guard("clear the collection"),
                contextlib.suppress(self._chromadb.errors.NotFoundError),
            ):
                self._client.delete_collection(self.collection)
            self._collection = self._open_collection()

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            client, self._client, self._collection = self._client, None, None
            if client is None:
                return
            if self.path is None:
                # nothing of a run-only store outlives it, even while other clients keep
                # chroma's shared in-memory database open
                with contextlib.suppress(Exception):
                    client.delete_collection(self.collection)
            with self._guard("close the chroma client"):
                client.close()
