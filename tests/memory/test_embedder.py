"""The local embedder's own batching against sentence-transformers' reference encode."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from massmem.errors import MemoryError_
from massmem.memory.batching import plan_batches, spread_batches
from massmem.memory.embedder import LocalEmbedder, embed_runtime, local_model, local_model_dir
from massmem.memory.onnx_minilm import (
    FLOAT_RECIPE,
    INT8_RECIPE,
    OnnxMiniLM,
    cached_model_path,
    cpu_features,
    precision,
    recipe,
)

#: how close the ONNX model's vectors are to the reference: worst, mean (int8 only where the CPU has
#: int8 dot products; float32 elsewhere)
ONNX_CLOSENESS = (0.97, 0.985) if recipe() == INT8_RECIPE else (0.995, 0.998)


@pytest.mark.parametrize(
    "lengths",
    [[5], [8] * 40, list(range(3, 120, 3)), [4, 4, 5, 90, 91, 200], [10] * 3 + [256] * 3],
)
def test_plan_batches_covers_every_text_once_in_order(lengths: list[int]) -> None:
    batches = plan_batches(lengths, max_batch=16)
    assert batches[0][0] == 0 and batches[-1][1] == len(lengths)
    for (_, stop), (start, _) in itertools.pairwise(batches):
        assert stop == start
    assert all(0 < stop - start <= 16 for start, stop in batches)


def test_plan_batches_splits_short_from_long_and_groups_equals() -> None:
    # Padding ten short texts to 250 tokens costs far more than a second forward pass.
    assert plan_batches([6] * 10 + [250] * 2, max_batch=32) == [(0, 10), (10, 12)]
    # Equal lengths waste nothing: one pass up to the batch bound.
    assert plan_batches([20] * 20, max_batch=32) == [(0, 20)]
    assert len(plan_batches([20] * 40, max_batch=32)) == 2


def test_spread_batches_gives_each_core_a_share() -> None:
    lengths = [20] * 5
    assert spread_batches([(0, 5)], lengths, workers=2) == [(0, 3), (3, 5)]
    assert spread_batches([(0, 5)], lengths, workers=4) == [(0, 1), (1, 2), (2, 3), (3, 5)]
    # the widest padded batch is halved first; a single text is never cut
    assert spread_batches([(0, 2), (2, 3)], [6, 6, 250], workers=3) == [(0, 1), (1, 2), (2, 3)]
    assert spread_batches([(0, 1)], [9], workers=2) == [(0, 1)]
    assert spread_batches([(0, 10), (10, 12)], [6] * 10 + [250] * 2, workers=2) == [(0, 10), (10, 12)]


TEXTS = [
    "Caroline went to the LGBTQ support group on 7 May 2023.",
    "ok",
    "Melanie painted a sunrise over the lake last year and sent a photo of it to her friends, "
    "who said it was the best thing she had painted since she started taking classes.",
    "What did Caroline research?",
    "",
    "Adoption agencies",
] * 3


def reference(texts: list[str]) -> np.ndarray:
    vectors = np.asarray(
        local_model().encode(texts, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32
    )
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize(("runtime", "worst", "mean"), [("torch", 0.995, 0.998), ("onnx", *ONNX_CLOSENESS)])
def test_vectors_match_the_reference_encode_in_input_order(
    embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch, runtime: str, worst: float, mean: float
) -> None:
    monkeypatch.setenv("MASSMEM_EMBED_RUNTIME", runtime)
    assert embedder.runtime == runtime
    ours = embedder.embed(TEXTS)
    assert ours.shape == (len(TEXTS), embedder.dims) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * reference(TEXTS)).sum(axis=1)
    assert cosines.min() > worst and cosines.mean() > mean, cosines
    # a row depends only on its own text, not on the batch it landed in
    alone = embedder.embed([TEXTS[2]])[0]
    assert float(alone @ ours[2]) > 0.995
    # and the ranking a query gets is the reference's
    query = embedder.embed_one("the support group meeting in May")
    assert int(np.argmax(ours[:6] @ query)) == int(np.argmax(reference(TEXTS[:6]) @ query)) == 0


def test_runtime_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSMEM_EMBED_RUNTIME", "auto")
    assert embed_runtime() == "onnx"  # the memory extra brings onnxruntime and onnx
    monkeypatch.setenv("MASSMEM_EMBED_RUNTIME", "torch")
    assert embed_runtime() == "torch"
    monkeypatch.setenv("MASSMEM_EMBED_RUNTIME", "tpu")
    with pytest.raises(MemoryError_, match="auto, onnx or torch"):
        embed_runtime()


def test_the_onnx_model_is_cached_and_a_broken_cache_file_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: LocalEmbedder
) -> None:
    monkeypatch.setenv("MASSMEM_CACHE_DIR", str(tmp_path / "cache"))
    folder = local_model_dir()
    target = cached_model_path(folder)
    assert target.is_relative_to(tmp_path / "cache") and not target.exists()
    assert target.name.startswith(f"all-minilm-l6-v2-{recipe()}-")  # each recipe its own file
    assert cached_model_path(folder, INT8_RECIPE) != cached_model_path(folder, FLOAT_RECIPE)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx model")  # a truncated or foreign file
    model = OnnxMiniLM.load(folder)  # rebuilt, then loaded
    assert target.stat().st_size > 10_000_000
    built = target.stat().st_mtime_ns
    vector = model.embed(["Adoption agencies"])[0]
    again = OnnxMiniLM.load(folder)  # from the cache: not rebuilt
    assert target.stat().st_mtime_ns == built
    assert float(again.embed(["Adoption agencies"])[0] @ vector) > 0.9999
    assert not list(target.parent.glob(".build-*"))  # no scratch left behind


def test_a_cached_model_loads_without_the_onnx_package() -> None:
    """``onnx`` (and ``ml_dtypes``) only build the model; importing them cost 1.7 s of every start."""
    import subprocess
    import sys

    OnnxMiniLM.load(local_model_dir())  # this CPU's model in the run's cache (built once if missing)
    code = (
        "import sys\n"
        "from massmem.memory.embedder import LocalEmbedder\n"
        "e = LocalEmbedder()\n"
        "v = e.embed(['Adoption agencies', 'support group'])\n"
        "e.embed_one('a query')\n"
        "print(e.runtime, v.shape[1], sorted({'onnx', 'ml_dtypes', 'torch'} & set(sys.modules)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["onnx", "384", "[]"]


def test_an_unbuildable_onnx_model_falls_back_to_torch_or_fails_clearly(tmp_path: Path) -> None:
    """A read-only or broken cache must not stop memory: ``auto`` warns and embeds with torch."""
    import os
    import subprocess
    import sys

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING, stream=sys.stderr)\n"
        "from massmem.memory.embedder import LocalEmbedder\n"
        "e = LocalEmbedder()\n"
        "v = e.embed(['Adoption agencies', 'support group'])\n"
        "print(e.runtime, v.shape)\n"
    )
    env = {**os.environ, "MASSMEM_CACHE_DIR": str(blocker / "cache")}
    auto = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MASSMEM_EMBED_RUNTIME": "auto"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout.split() == ["torch", "(2,", "384)"]
    assert "embedding with torch instead" in auto.stderr and "MASSMEM_CACHE_DIR" in auto.stderr
    strict = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "MASSMEM_EMBED_RUNTIME": "onnx"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert strict.returncode != 0
    assert "MemoryError_" in strict.stderr and "ONNX embedding model is unavailable" in strict.stderr


def test_agents_embedding_at_once_share_passes_and_get_their_own_vectors() -> None:
    """A turn's end: every agent's thread embeds at once; each gets the vectors of its own texts."""
    import threading
    import time

    from massmem.memory import embedder as module

    model = LocalEmbedder()
    texts = [
        [f"Agent {a} noted fact number {i} about the staging cluster." for i in range(3)] for a in range(6)
    ]
    alone = [model._embed(t) for t in texts]  # one pass each, no sharing, no cache
    passes: list[int] = []
    real = model._embed

    def counting(batch):  # type: ignore[no-untyped-def]
        passes.append(len(batch))
        time.sleep(0.05)  # a pass long enough that the other threads surely arrive during it
        return real(batch)

    model._embed = counting  # type: ignore[method-assign]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(texts))

    def work(a: int) -> None:
        start.wait()
        results[a] = model.embed(texts[a])

    threads = [threading.Thread(target=work, args=(a,)) for a in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, expected in enumerate(alone):
        cosine = (results[a] * expected).sum(axis=1)
        assert cosine.min() > 0.98, a  # int8 activations are scaled per pass: close, not bit-equal
    assert sum(passes) == 18 and len(passes) < len(texts)  # every text embedded once, in fewer passes
    # the shared question of a team: embedded once, then served from the recent vectors
    passes.clear()
    again = model.embed(texts[2])
    assert passes == [] and np.array_equal(again, results[2])
    assert module._recent.get((embed_runtime(), texts[2][0])) is not None


def test_a_failed_pass_fails_every_caller_sharing_it() -> None:
    from massmem.memory.embedder import _Combiner

    combiner = _Combiner()

    def broken(batch):  # type: ignore[no-untyped-def]
        raise RuntimeError("model file unreadable")

    with pytest.raises(RuntimeError, match="unreadable"):
        combiner.embed(["a"], broken)
    assert combiner.embed(["b"], lambda batch: [np.ones(2)])["b"].tolist() == [1.0, 1.0]  # not stuck


def test_a_single_text_runs_on_every_core_and_gets_the_batch_path_s_vector() -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = OnnxMiniLM.load(local_model_dir())
    if model.workers > 1:  # a run's first call is a query: only its session is opened when loading
        assert model._single is not None and model._session is None
    model.workers = 2  # as on the 2-core reference machine, whatever this one has
    texts = TEXTS[:8]
    batched = model.embed(texts)  # several texts: the one-thread session, one batch per worker
    with ThreadPoolExecutor(4) as pool:  # agents asking at once each get their own vector
        alone = np.stack(list(pool.map(lambda text: model.embed([text])[0], texts)))
    session = model._single
    assert session is not None and session is not model._session
    assert session.get_session_options().intra_op_num_threads == 2
    # int8 quantises each batch's activations with one scale, so a row moves a little with its batch
    assert ((batched * alone).sum(axis=1) > (0.995 if recipe() == INT8_RECIPE else 0.9999)).all()


def test_int8_only_where_the_cpu_multiplies_int8_without_saturating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASSMEM_EMBED_PRECISION", raising=False)
    assert recipe("flags\t\t: fpu sse4_2 avx2 fma", "x86_64") == FLOAT_RECIPE  # AVX2 saturates at 16 bits
    assert recipe("flags\t\t: fpu avx2 avx512f avx512_vnni", "x86_64") == INT8_RECIPE
    assert recipe("flags\t\t: fpu avx2 avx_vnni", "x86_64") == INT8_RECIPE
    assert recipe("Features\t: fp asimd asimddp", "aarch64") == INT8_RECIPE
    assert recipe("Features\t: fp asimd", "aarch64") == FLOAT_RECIPE
    assert recipe("", "x86_64") == FLOAT_RECIPE  # cannot tell
    monkeypatch.setenv("MASSMEM_EMBED_PRECISION", "int8")
    assert recipe("flags : avx2", "x86_64") == INT8_RECIPE
    monkeypatch.setenv("MASSMEM_EMBED_PRECISION", "float32")
    assert recipe("flags : avx512_vnni", "x86_64") == FLOAT_RECIPE
    monkeypatch.setenv("MASSMEM_EMBED_PRECISION", "fp8")
    with pytest.raises(MemoryError_, match="auto, int8 or float32"):
        recipe()
    assert (precision(INT8_RECIPE), precision(FLOAT_RECIPE)) == ("int8", "float32")


def test_cpu_features_reads_the_first_cores_model_and_flags() -> None:
    two_cores = (
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n\n"
        "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n"
    )
    assert cpu_features(two_cores) == ("AMD EPYC 7B13", frozenset({"fpu", "avx2", "fma"}))
    assert cpu_features("Features\t: fp asimd asimddp\n") == (None, frozenset({"fp", "asimd", "asimddp"}))
    assert cpu_features("") == (None, frozenset())
