"""The lexical half of hybrid retrieval: an SQLite FTS5 index next to the Qdrant vectors.

Every point massmem or mem0 writes to a memory collection gets a row here with the same
id and the fields retrieval filters on (agent, session, turn).  Queries are bag-of-words
``OR`` queries over Porter-stemmed tokens with stop words dropped, ranked by FTS5's BM25.

The index is a cache of what the vector store holds: it can be rebuilt from Qdrant at any
time (:meth:`LexicalIndex.rebuild`), which :class:`~massmem.memory.qdrant_store.Store` does
when it finds the two out of step.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LexicalIndex", "LexicalRow", "ScopeClause", "fts_query", "query_terms"]

# A small English stop-word list: words that carry no topic and would only add noise to an
# OR query.  Question words are here too — they say what kind of answer is wanted, not
# what it is about.
_STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "might",
        "more",
        "most",
        "must",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "shall",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
        "also",
        "yet",
        "ever",
    ]
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_TERMS = 32


def query_terms(text: str) -> list[str]:
    """The distinct content words of ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text.lower()):
        if token in _STOP_WORDS or token in seen:
            continue
        seen[token] = None
        if len(seen) >= _MAX_TERMS:
            break
    return list(seen)


def fts_query(text: str) -> str | None:
    """An FTS5 ``MATCH`` expression: every content word, quoted, joined with ``OR``."""
    terms = query_terms(text)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


@dataclass(frozen=True, slots=True)
class ScopeClause:
    """One allowed slice of a collection: an agent, optionally one session, optionally turns <= N."""

    agent_id: str
    session: str | None = None
    max_turn: int | None = None


@dataclass(frozen=True, slots=True)
class LexicalRow:
    point_id: str
    collection: str
    body: str
    agent_id: str | None
    session: str | None
    turn: int | None


class LexicalIndex:
    """One FTS5 table shared by every collection of a store (rows carry their collection)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        target = str(path) if path is not None else ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS memory_text USING fts5("
                "body, point_id UNINDEXED, collection UNINDEXED, agent_id UNINDEXED, "
                "session UNINDEXED, turn UNINDEXED, tokenize='porter unicode61')"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, rows: Iterable[LexicalRow]) -> None:
        rows = list(rows)
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "DELETE FROM memory_text WHERE point_id = ? AND collection = ?",
                    [(r.point_id, r.collection) for r in rows],
                )
                self._db.executemany(
                    "INSERT INTO memory_text(body, point_id, collection, agent_id, session, turn) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.body, r.point_id, r.collection, r.agent_id, r.session, r.turn) for r in rows],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete(self, collection: str, point_ids: Sequence[str]) -> None:
        with self._lock:
            self._db.executemany(
                "DELETE FROM memory_text WHERE point_id = ? AND collection = ?",
                [(p, collection) for p in point_ids],
            )

    def drop_collection(self, collection: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM memory_text WHERE collection = ?", (collection,))

    def rebuild(self, collection: str, rows: Iterable[LexicalRow]) -> None:
        self.drop_collection(collection)
        self.upsert(rows)

    # -- reads ------------------------------------------------------------------------------

    def count(self, collection: str) -> int:
        with self._lock:
            (n,) = self._db.execute(
                "SELECT count(*) FROM memory_text WHERE collection = ?", (collection,)
            ).fetchone()
        return int(n)

    def search(
        self, collection: str, text: str, clauses: Sequence[ScopeClause] | None, limit: int
    ) -> list[tuple[str, float]]:
        """``(point_id, score)`` best first; the score is BM25, larger is better."""
        match = fts_query(text)
        if match is None or limit <= 0:
            return []
        sql = "SELECT point_id, -bm25(memory_text) FROM memory_text WHERE memory_text MATCH ? AND collection = ?"
        params: list[object] = [match, collection]
        if clauses is not None:
            if not clauses:
                return []
            parts = []
            for clause in clauses:
                part = ["agent_id = ?"]
                params.append(clause.agent_id)
                if clause.session is not None:
                    part.append("session = ?")
                    params.append(clause.session)
                if clause.max_turn is not None:
                    part.append("turn IS NOT NULL AND turn <= ?")
                    params.append(clause.max_turn)
                parts.append("(" + " AND ".join(part) + ")")
            sql += " AND (" + " OR ".join(parts) + ")"
        sql += " ORDER BY bm25(memory_text) LIMIT ?"
        params.append(limit)
        with self._lock:
            try:
                rows = self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                return []  # a query FTS5 cannot parse is no reason to fail retrieval
        return [(str(pid), float(score)) for pid, score in rows]
