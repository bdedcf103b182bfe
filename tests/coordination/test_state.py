"""CoordinationState: the pure rules of answers, votes and winners."""

from __future__ import annotations

import pytest

from massmem.coordination.state import CoordinationState


def make() -> CoordinationState:
    return CoordinationState(("alice", "bob", "carol"))


def test_anonymous_ids_follow_registration_order() -> None:
    state = make()
    assert state.anon_ids() == ["agent1", "agent2", "agent3"]
    assert state.anon_id("bob") == "agent2"
    assert state.real_id("agent3") == "carol"
    assert state.real_id("agent4") is None and state.real_id("bob") is None


def test_add_answer_labels_bumps_revision_and_clears_all_votes() -> None:
    state = make()
    first = state.add_answer("bob", "x")
    assert first.label == "agent2.1" and first.revision == 1
    state.add_vote("alice", "agent2")
    state.add_vote("carol", "agent2")
    assert state.status["alice"] == "voted"
    second = state.add_answer("bob", "y")
    assert second.label == "agent2.2" and state.revision == 2
    assert state.votes == {}
    assert state.status["alice"] == "waiting" and state.status["carol"] == "waiting"
    assert state.current_answers() == [second]
    assert state.answers_since(1) == [second]


def test_vote_needs_an_answer() -> None:
    state = make()
    with pytest.raises(ValueError):
        state.add_vote("alice", "agent1")


def test_everyone_voted_ignores_failed_agents() -> None:
    state = make()
    state.add_answer("alice", "x")
    state.add_vote("alice", "agent1")
    state.add_vote("bob", "agent1")
    assert not state.everyone_voted()
    state.mark_failed("carol", "boom")
    assert state.everyone_voted()
    assert state.failures == {"carol": "boom"}


def test_nobody_active_is_not_everyone_voted() -> None:
    state = CoordinationState(("a",))
    state.mark_failed("a", "x")
    assert not state.everyone_voted()


def test_winner_most_votes_then_registration_order() -> None:
    state = make()
    state.add_answer("carol", "c")
    state.add_answer("bob", "b")
    state.add_vote("alice", "agent3")
    state.add_vote("bob", "agent2")
    winner = state.winner()
    assert winner is not None and winner.author == "bob"  # 1-1 tie: agent2 registered before agent3
    state.add_vote("carol", "agent3")
    winner = state.winner()
    assert winner is not None and winner.author == "carol"


def test_winner_without_votes_is_first_answerer_latest_answer() -> None:
    state = make()
    assert state.winner() is None
    state.add_answer("carol", "c1")
    state.add_answer("alice", "a1")
    state.add_answer("carol", "c2")
    winner = state.winner()
    assert winner is not None and winner.content == "c2"
    best = state.best_available()
    assert best is not None and best.content == "c2"  # the latest answer


def test_duplicates_by_novelty() -> None:
    state = make()
    state.add_answer("alice", "The answer is  four.\n")
    assert state.duplicate_of("The answer is four.") is not None
    assert state.duplicate_of("the answer is four") is None
    assert state.duplicate_of("the answer is four", "balanced") is not None
    assert state.duplicate_of("The answer is four, certainly.", "strict") is not None
    assert state.duplicate_of("The answer is four, certainly.", "balanced") is None
    assert state.duplicate_of("Something else entirely", "strict") is None


def test_mark_working_drops_own_vote() -> None:
    state = make()
    state.add_answer("alice", "x")
    state.add_vote("bob", "agent1")
    state.mark_working("bob")
    assert "bob" not in state.votes and state.status["bob"] == "working"
