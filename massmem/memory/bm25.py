"""BM25 sparse vectors, made on this machine with Qdrant's own tokenizer.

Both engines store a ``bm25`` sparse vector beside each dense one, in a slot with the IDF
modifier, so the engine itself scores BM25 (term frequencies here, inverse document
frequencies from the collection at query time) and fuses it with the dense search.  The
vectors come from ``qdrant_edge.Bm25``, whose defaults match the Qdrant server's built-in
BM25 (English stop words, Snowball stemmer, k=1.2, b=0.75, avg_len=256), so a store written
in-process and one written to a server rank alike.  (An ``avg_len`` nearer a chat turn's length,
24 or 64, ranked worse on the LoCoMo dev conversations, so the default stays.)
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["SPARSE_NAME", "encode_documents", "encode_query"]

#: the sparse vector's name in every collection (mem0's Qdrant layout uses the same name)
SPARSE_NAME = "bm25"

_model: Any = None
_lock = threading.Lock()


def _bm25() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import qdrant_edge

                _model = qdrant_edge.Bm25(qdrant_edge.Bm25Config())
    return _model


def encode_documents(texts: list[str]) -> list[tuple[list[int], list[float]] | None]:
    """``(indices, values)`` per text; ``None`` for a text with no indexable word."""
    model = _bm25()
    out: list[tuple[list[int], list[float]] | None] = []
    for text in texts:
        vector = model.embed_document(text) if text else None
        out.append(
            (list(vector.indices), list(vector.values)) if vector is not None and vector.indices else None
        )
    return out


def encode_query(text: str) -> tuple[list[int], list[float]] | None:
    vector = _bm25().embed_query(text)
    return (list(vector.indices), list(vector.values)) if vector.indices else None
