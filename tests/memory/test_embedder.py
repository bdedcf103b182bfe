"""The local embedder's own batching against sentence-transformers' reference encode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from massmem.memory.embedder import LocalEmbedder, local_model, plan_batches


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


def test_vectors_match_the_reference_encode_in_input_order(embedder: LocalEmbedder) -> None:
    texts = [
        "Caroline went to the LGBTQ support group on 7 May 2023.",
        "ok",
        "Melanie painted a sunrise over the lake last year and sent a photo of it to her friends, "
        "who said it was the best thing she had painted since she started taking classes.",
        "What did Caroline research?",
        "",
        "Adoption agencies",
    ] * 3
    ours = embedder.embed(texts)
    reference = local_model().encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    reference = np.asarray(reference, dtype=np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert ours.shape == (len(texts), embedder.dims) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() > 0.995, cosines
    # a row depends only on its own text, not on the batch it landed in
    alone = embedder.embed([texts[2]])[0]
    assert float(alone @ ours[2]) > 0.995
