"""Usage arithmetic: the one place running totals are summed (agents, compression, run results)."""

from __future__ import annotations

from massmem.messages import Usage


def test_sum_adds_every_count_and_is_estimated_if_either_part_was() -> None:
    reported = Usage(input_tokens=10, output_tokens=2, reasoning_tokens=1, cached_tokens=4)
    estimate = Usage(input_tokens=5, output_tokens=3, estimated=True)
    total = reported + estimate
    assert total == Usage(
        input_tokens=15, output_tokens=5, reasoning_tokens=1, cached_tokens=4, estimated=True
    )
    assert (reported + reported).estimated is False
    assert reported + None is reported  # a call whose provider reported nothing adds nothing


def test_difference_is_what_a_running_total_grew_by() -> None:
    before = Usage(input_tokens=10, output_tokens=2, cached_tokens=1)
    after = before + Usage(input_tokens=7, output_tokens=1, reasoning_tokens=3, estimated=True)
    grown = after - before
    assert grown == Usage(input_tokens=7, output_tokens=1, reasoning_tokens=3, estimated=True)
    assert (before - before).total_tokens == 0
