"""The ``memory_stores:`` section (named pluggable stores) and an agent's ``memories:`` attachments."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from massmem.config.schema.base import StrictModel, check_safe_id
from massmem.config.schema.memory import EmbeddingConfig, QdrantConfig

__all__ = [
    "MEMORY_STORE_TYPES",
    "READ_ONLY_STORE_TYPES",
    "BlackboardStoreConfig",
    "BlackboardStoreOptions",
    "ChromaStoreConfig",
    "ChromaStoreOptions",
    "FileStoreConfig",
    "FileStoreOptions",
    "ListStoreConfig",
    "ListStoreOptions",
    "Mem0StoreConfig",
    "Mem0StoreOptions",
    "MemoryAttachment",
    "MemoryStoreConfig",
    "VectorStoreConfig",
    "VectorStoreOptions",
]


#: store types a ``memory_stores`` entry may name
MEMORY_STORE_TYPES: tuple[str, ...] = ("list", "blackboard", "file", "vector", "chroma", "mem0")


class ListStoreOptions(StrictModel):
    """``list``: in memory for one run; recency plus word-overlap similarity."""

    max_items: int | None = Field(default=None, gt=0, description="Forget the oldest beyond this many")


class BlackboardStoreOptions(StrictModel):
    """``blackboard``: append-only notes, newest first; kept in a JSON file under MASSMEM_HOME."""

    max_items: int = Field(default=200, gt=0, description="Keep only the newest this many entries")
    persist: bool = Field(default=True, description="Keep the board on disk across runs")


class FileStoreOptions(StrictModel):
    """``file``: a read-only knowledge base built from a folder of documents."""

    path: str = Field(description="Folder (or single file) of documents to index")
    suffixes: list[str] = Field(
        default_factory=lambda: [".md", ".txt", ".rst"], description="File endings to index"
    )
    recursive: bool = Field(default=True, description="Also index sub-folders")
    chunk_chars: int = Field(default=1200, ge=100, description="Characters per chunk")
    chunk_overlap: int = Field(default=150, ge=0, description="Characters shared by neighbouring chunks")
    retrieval: Literal["embedding", "lexical"] = Field(
        default="embedding", description="embedding: local embedder; lexical: word overlap, no model"
    )
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> FileStoreOptions:
        if self.chunk_overlap >= self.chunk_chars:
            raise ValueError("chunk_overlap must be smaller than chunk_chars")
        return self


class VectorStoreOptions(StrictModel):
    """``vector``: Qdrant (embedded or server) with massmem's own embeddings."""

    collection: str | None = Field(default=None, description="Collection name; default from the store name")
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig)

    @field_validator("collection")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else check_safe_id(v, "collection")


class ChromaStoreOptions(StrictModel):
    """``chroma``: an embedded ChromaDB collection with massmem's own embeddings (needs ``massmem[chroma]``)."""

    collection: str | None = Field(default=None, description="Collection name; default from the store name")
    path: str | None = Field(default=None, description="Chroma folder; default under MASSMEM_HOME")
    persist: bool = Field(
        default=True, description="Keep the collection on disk (false: in memory, this run)"
    )
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)

    @field_validator("collection")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else check_safe_id(v, "collection")

    @field_validator("path")
    @classmethod
    def _path_given(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or "\x00" in v):
            raise ValueError("path must be a folder name (or left out for the default under MASSMEM_HOME)")
        return v

    @model_validator(mode="after")
    def _path_needs_persist(self) -> ChromaStoreOptions:
        if self.path is not None and not self.persist:
            raise ValueError("path only applies with persist: true (persist: false keeps nothing on disk)")
        return self


class Mem0StoreOptions(StrictModel):
    """``mem0``: persistent memory (mem0 + Qdrant) used as a plain store."""

    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    qdrant: QdrantConfig = Field(default_factory=QdrantConfig)


class _StoreBase(StrictModel):
    name: str = Field(description="Unique store name; agents refer to it under `memories`")

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        return check_safe_id(v, "memory store name")


class ListStoreConfig(_StoreBase):
    type: Literal["list"]
    config: ListStoreOptions = Field(default_factory=ListStoreOptions)


class BlackboardStoreConfig(_StoreBase):
    type: Literal["blackboard"]
    config: BlackboardStoreOptions = Field(default_factory=BlackboardStoreOptions)


class FileStoreConfig(_StoreBase):
    type: Literal["file"]
    config: FileStoreOptions


class VectorStoreConfig(_StoreBase):
    type: Literal["vector"]
    config: VectorStoreOptions = Field(default_factory=VectorStoreOptions)


class ChromaStoreConfig(_StoreBase):
    type: Literal["chroma"]
    config: ChromaStoreOptions = Field(default_factory=ChromaStoreOptions)


class Mem0StoreConfig(_StoreBase):
    type: Literal["mem0"]
    config: Mem0StoreOptions = Field(default_factory=Mem0StoreOptions)


MemoryStoreConfig: TypeAlias = Annotated[
    ListStoreConfig
    | BlackboardStoreConfig
    | FileStoreConfig
    | VectorStoreConfig
    | ChromaStoreConfig
    | Mem0StoreConfig,
    Field(discriminator="type"),
]

#: store types whose stores can never be written to
READ_ONLY_STORE_TYPES: frozenset[str] = frozenset({"file"})


class MemoryAttachment(StrictModel):
    """One agent's use of a named memory store."""

    name: str = Field(description="A store declared under `memory_stores`")
    read: bool = Field(default=True, description="Put the store's results into this agent's context")
    write: bool = Field(default=False, description="Add this agent's answers and votes to the store")
    top_k: int = Field(default=3, ge=1, le=50, description="Results per query")
    similarity_threshold: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Drop results scoring below this"
    )
    retrieve_stage: Literal["every_call", "first_call"] = Field(
        default="every_call", description="Query on every call, or on the first call of each question"
    )
