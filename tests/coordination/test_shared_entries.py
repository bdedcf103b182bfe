"""Scoped shared entries in the team loop: the share tool, receipts, replacement, rounds."""

from __future__ import annotations

from massmem.agents import Agent
from massmem.backends.base import Capabilities
from massmem.backends.scripted import AnswerReply, ScriptedBackend, ShareReply, VoteReply
from massmem.cli.display import describe
from massmem.config.schema import OrchestratorConfig, SharedEntriesConfig
from massmem.coordination import (
    AgentRetry,
    EntryShared,
    Orchestrator,
    ShareRefused,
)
from massmem.memory.scoped_entries import ScopedEntry
from massmem.messages import ToolResultMessage
from tests.coordination.helpers import backend_of, of_kind, run_team, scripted_agent


def sharing(**options: object) -> OrchestratorConfig:
    return OrchestratorConfig(
        shared_entries=SharedEntriesConfig(enabled=True, **options),  # type: ignore[arg-type]
        present_final_answer=False,
    )


def tool_results(agent: Agent) -> list[ToolResultMessage]:
    return [m for m in agent.conversation.messages() if isinstance(m, ToolResultMessage)]


async def test_share_with_an_answer_publishes_and_others_see_it_next_call() -> None:
    alice = scripted_agent(
        "alice",
        [ShareReply((("plan", "1. factor 2. check", "round"),), AnswerReply("4")), VoteReply("agent1")],
    )
    bob = scripted_agent("bob", [VoteReply("agent1", "fine")], latency=0.05)
    result, events = await run_team([alice, bob], sharing())
    shared = of_kind(events, EntryShared)
    assert [(e.agent_id, e.entry_type, e.scope, e.replaced) for e in shared] == [
        ("alice", "plan", "round", False)
    ]
    assert [(e.type, e.content, e.author, e.turn) for e in result.shared_entries] == [
        ("plan", "1. factor 2. check", "alice", 1)
    ]
    # the share call got its own receipt; the answer call its usual one
    receipts = {m.name: m.content for m in tool_results(alice)}
    assert receipts["share"] == "Shared as [plan] (round)."
    assert receipts["new_answer"].startswith("Recorded as")
    # bob's first call began before the entry existed; his retry after the answer shows it,
    # attributed by anonymous id, in the system prompt (which compression never drops)
    later = backend_of(bob).requests[-1]
    system = later.messages[0].content
    assert "[plan] by agent1 (round):" in system and "1. factor 2. check" in system
    assert "share" in {t.name for t in later.tools}
    # alice sees her own entry as hers
    assert "[plan] by you (round):" in backend_of(alice).requests[-1].messages[0].content


async def test_a_reply_that_only_shares_is_asked_for_its_action_without_a_retry() -> None:
    alice = scripted_agent(
        "alice",
        [
            ShareReply((("finding", "the input is prime", "round"),)),
            AnswerReply("7 is prime"),
            VoteReply("agent1"),
        ],
    )
    result, events = await run_team([alice], sharing())
    assert result.winning_answer.content == "7 is prime"
    assert not of_kind(events, AgentRetry)
    follow_up = backend_of(alice).requests[1].messages[-1].content
    assert "Shared as [finding] (round)." in follow_up and "new_answer or vote" in follow_up


async def test_later_entry_of_same_type_replaces_and_only_the_latest_is_shown() -> None:
    alice = scripted_agent(
        "alice",
        [
            ShareReply((("plan", "plan v1", "round"),), AnswerReply("draft")),
            ShareReply((("plan", "plan v2", "round"),), AnswerReply("better draft")),
            VoteReply("agent1"),
        ],
    )
    bob = scripted_agent("bob", [VoteReply("agent1")], latency=0.08)
    result, events = await run_team([alice, bob], sharing())
    assert [e.replaced for e in of_kind(events, EntryShared)] == [False, True]
    assert describe(of_kind(events, EntryShared)[1]) == (
        "[alice] shared [plan] (round, replaces its earlier one): plan v2"
    )
    assert [e.content for e in result.shared_entries] == ["plan v1", "plan v2"]  # the record keeps both
    system = backend_of(bob).requests[-1].messages[0].content
    assert "plan v2" in system and "plan v1" not in system
    assert "replaces your earlier entry" in tool_results(alice)[-3].content


async def test_bad_requests_are_refused_and_the_model_told_why() -> None:
    alice = scripted_agent(
        "alice",
        [
            ShareReply((("note", "x", "round"), ("plan", "p", "forever")), AnswerReply("4")),
            VoteReply("agent1"),
        ],
    )
    result, events = await run_team([alice], sharing(types=["plan"]))
    reasons = [e.reason for e in of_kind(events, ShareRefused)]
    assert len(reasons) == 2 and "not allowed" in reasons[0] and "scope" in reasons[1]
    assert result.shared_entries == ()
    receipts = [m.content for m in tool_results(alice) if m.name == "share"]
    assert all(r.startswith("Not shared:") for r in receipts)
    # the configured types are the tool's enum
    share_tool = next(t for t in backend_of(alice).requests[0].tools if t.name == "share")
    assert share_tool.parameters["properties"]["type"]["enum"] == ["plan"]


async def test_endless_sharing_becomes_an_enforced_retry() -> None:
    only_shares = [ShareReply(((f"t{i}", "x", "round"),)) for i in range(3)]
    alice = scripted_agent("alice", [*only_shares, AnswerReply("4"), VoteReply("agent1")])
    result, events = await run_team([alice], sharing(max_shares_per_turn=2))
    retries = of_kind(events, AgentRetry)
    assert len(retries) == 1 and retries[0].reason.startswith("no_action")
    assert result.winning_answer.content == "4"


async def test_without_the_feature_share_is_an_unknown_tool_and_not_offered() -> None:
    alice = scripted_agent(
        "alice",
        [ShareReply((("plan", "p", "round"),), AnswerReply("4")), AnswerReply("4"), VoteReply("agent1")],
    )
    result, events = await run_team([alice], OrchestratorConfig(present_final_answer=False))
    assert "share" not in {t.name for t in backend_of(alice).requests[0].tools}
    assert of_kind(events, AgentRetry)[0].reason.startswith("unknown_tool")
    assert result.shared_entries == ()


async def test_json_protocol_models_share_through_a_share_list() -> None:
    caps = Capabilities(tool_calling=False, json_schema=True)
    alice = Agent(
        "alice",
        ScriptedBackend(
            [ShareReply((("plan", "json plan", "conversation"),), AnswerReply("4")), VoteReply("agent1")],
            capabilities=caps,
        ),
    )
    result, _ = await run_team([alice], sharing())
    assert [(e.content, e.scope) for e in result.shared_entries] == [("json plan", "conversation")]
    schema = backend_of(alice).requests[0].response_format.schema  # type: ignore[union-attr]
    assert "share" in schema["properties"]


async def test_earlier_rounds_conversation_entries_apply_round_ones_do_not() -> None:
    past = [
        ScopedEntry("constraint", "always cite sources", "conversation", "bob", 1),
        ScopedEntry("plan", "yesterday's plan", "round", "alice", 1),
    ]
    alice = scripted_agent("alice", [AnswerReply("4"), VoteReply("agent1")])
    bob = scripted_agent("bob", [VoteReply("agent1")])
    orchestrator = Orchestrator([alice, bob], sharing())
    result = await orchestrator.run("q2", shared_entries=past, turn=2)
    system = backend_of(alice).requests[0].messages[0].content
    assert "[constraint] by agent2 (conversation, from question 1):" in system
    assert "yesterday's plan" not in system
    assert result.shared_entries == ()
