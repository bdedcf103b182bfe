"""Persistent memory at scale: ingest rate, query latency, cold open, RSS, disk, needle recall.

    python scripts/bench_scale.py --records 1000,10000 [--records 100000] [--json OUT.json] \\
        [--plot docs/scale.svg] [--queries 200] [--seed 7] [--keep] [--with-mem0]

Each size is its own run in a fresh temporary store (``MASSMEM_HOME`` and the Qdrant path
point into it; it is deleted afterwards unless ``--keep``).  Everything goes through the
path a team's agents use, with fact extraction off (``llm.provider: none``, so no LLM):

* **ingest** (a child process per size, so its peak RSS is that size's): synthetic but
  realistic team sessions — five agents, sessions of 5-30 questions, each question one
  ``await PersistentMemory.record(...)`` per agent run together with ``asyncio.gather``
  the way :meth:`MemoryBinding.finish_turn` does; each call carries the user's question,
  the agent's ``new_answer`` call (sometimes with a line of text) and usually its ``vote``,
  so 2-4 raw records per call.  Seeded: the same ``--seed`` gives the same turns.  A record
  is one stored raw passage (what ``record`` returns in ``raw_ids``); the run stops at the
  first question that reaches ``--records``.  The rate is reported per slice of 1,000
  records, overall, and first against last slice.
* **needles**: 50 facts a user states in passing ("Before I forget, my locker combination at
  the gym is 4-17-32. ...") at evenly spread positions; after ingest each is asked with a
  paraphrase ("What's the code that opens my locker at the gym?") by one of the agents of
  its session; hit@10 = share of questions whose top 10 holds a record with the fact's value.
  No filler text contains any needle's value (checked while generating).
* **query latency**: after a warm-up, ``--queries`` fresh task questions, each one
  ``await PersistentMemory.retrieve(query, previous_winners=..., limit=10)`` by a random
  agent with a random list of earlier winners — query embedding included.  The query's
  embedding time is measured on its own after each call, so engine time ~= total - embed.
* **cold open**: a new process per try (``--cold-runs``, median reported): from just before
  ``subprocess`` starts it until its first ``retrieve`` returns, with the child's breakdown
  (interpreter, imports, ``open_store``, loading the embedding model, building
  ``PersistentMemory``, first retrieve).  The int8 embedding model comes from the user's
  model cache (``MASSMEM_CACHE_DIR``, else ``~/.massmem/cache``), as on any machine that has
  run massmem once.
* **disk**: the store folder's allocated size after ingest.

``--with-mem0`` adds mem0's own ``Memory`` (``add(infer=False)`` per record call with the
entries ``record`` would store, ``search`` filtered by the asking agent) for sizes up to
``--mem0-max-records`` (10,000): its embedder is sentence-transformers on the same model, one
text at a time, so it is slow (~10 turns/s on 2 cores).

JSON: ``{"runs": [{"records", "ingest_turns_per_s", "query_p50_ms", "query_p95_ms",
"cold_open_s", "peak_rss_mb", "disk_mb", "needle_hit_at_10", ...}], "goals": ..., "machine": ...}``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: what the engine should reach at 100k records on 2 cores (issue #15)
GOALS = {
    "query_p95_ms": 15.0,
    "cold_open_s": 3.0,
    "ingest_turns_per_s": 300.0,
    "ingest_last_over_first": 0.9,
    "needle_hit_at_10": 0.9,
    "peak_rss_mb": 1536.0,
}
SLICE = 1000
NEEDLE_COUNT = 50
MEM0_MAX_RECORDS = 10_000
AGENTS = ("researcher", "critic", "planner", "engineer", "writer")

# ----------------------------------------------------------------------------- synthetic turns

NAMES = [
    "Alice", "Bashir", "Carmen", "Dmitri", "Elena", "Farid", "Greta", "Hiroshi", "Imani", "Jonas",
    "Keiko", "Luis", "Marta", "Nikolai", "Olu", "Pilar", "Quentin", "Rania", "Sven", "Tamsin",
    "Umar", "Vera", "Wen", "Xavier", "Yara", "Zoltan", "Beatrix", "Cormac", "Delphine", "Emeka",
]  # fmt: skip
CITIES = [
    "Porto", "Kyoto", "Edinburgh", "Valencia", "Montreal", "Oaxaca", "Tallinn", "Hobart",
    "Marrakesh", "Ljubljana", "Bergen", "Cusco", "Hanoi", "Trieste", "Cape Town", "Seville",
]  # fmt: skip
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

#: topic -> (question templates, answer sentences, things)
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "travel": (
        [
            "Can you plan a {n}-day trip to {city} in {month}? {name} is coming and our budget is {amount}.",
            "What should I see in {city} if I only have {n} hours between trains on {weekday}?",
            "Is {month} a good time to visit {city}, and how much should I set aside per day?",
        ],
        [
            "Day one in {city}: start at the old town before {time}, when the crowds are thin.",
            "Book the {thing} at least {n} days ahead; in {month} it sells out.",
            "A realistic daily budget in {city} is about {amount} for two, food included.",
            "Take the regional train rather than a taxi; it saves roughly {amount} over the trip.",
            "{name} might enjoy the {thing}, which is open until {time} on {weekday}s.",
        ],
        ["harbour cruise", "food market tour", "cathedral roof walk", "night museum pass", "cable car"],
    ),
    "cooking": (
        [
            "I have {thing} and about {n} minutes. What can I cook for {n2} people tonight?",
            "How do I scale a {thing} recipe from 4 to {n2} servings without ruining it?",
            "{name} is coming for dinner on {weekday}; suggest a menu around {thing}.",
        ],
        [
            "Roast the {thing} at 200 degrees for {n} minutes, turning once halfway.",
            "For {n2} servings multiply the liquids but only add salt to taste at the end.",
            "A quick side: blistered green beans with garlic, ready in {n} minutes.",
            "Prep the sauce the day before; it keeps {n2} days in the fridge.",
            "Dessert can be simple: poached pears with a spoon of yoghurt.",
        ],
        ["chickpeas", "a whole chicken", "leftover rice", "salmon fillets", "aubergines", "lentils"],
    ),
    "fitness": (
        [
            "Build me a {n}-week plan to run my first half marathon by {date}.",
            "My knees hurt after squats. How should I change leg day? I train {n2} times a week.",
            "What's a good {n}-minute workout I can do in a hotel room with no equipment?",
        ],
        [
            "Week {n2}: three easy runs of {n} minutes and one longer run on {weekday}.",
            "Swap back squats for box squats and keep the weight around {n} kilograms for now.",
            "Warm up for {n2} minutes; cold joints are the usual cause of that pain.",
            "Circuit: {n} push-ups, {n2} lunges per leg, a one-minute plank, repeat four times.",
            "Rest days matter as much as the {thing}; sleep at least seven hours.",
        ],
        ["interval session", "tempo run", "mobility routine", "kettlebell swings", "rowing"],
    ),
    "finance": (
        [
            "I earn {amount} a month. How should I split it between rent, savings and fun?",
            "Should I pay off a {amount} car loan early or put the money in an index fund?",
            "Help me budget for {name}'s wedding on {date}; we can spend {amount} in total.",
        ],
        [
            "A common split is 50/30/20; with your income that leaves {amount} for savings.",
            "Paying the loan early saves about {amount} in interest over {n} months.",
            "Keep an emergency fund of {n2} months of expenses before investing.",
            "Automate the transfer on the {n2}th so savings happen before spending.",
            "The venue is usually the largest line; ask about {weekday} discounts.",
        ],
        ["index fund", "high-yield savings account", "credit card balance", "pension top-up"],
    ),
    "software": (
        [
            "Our {thing} service times out under load after about {n} requests per second. Ideas?",
            "Review this plan: migrate the {thing} from cron jobs to a queue by {date}.",
            "Why would a Python test pass locally but fail in CI on {weekday}s only?",
        ],
        [
            "Profile first: {n}% of the time is probably spent waiting on the database.",
            "Add a connection pool of {n2} connections and a timeout of {n} seconds.",
            "A queue gives retries for free; keep the cron as a fallback for {n2} weeks.",
            "Tests that fail on one weekday often depend on the clock; freeze time in the test.",
            "Ask {name} to pair on the {thing} migration; they wrote the original scheduler.",
        ],
        ["billing", "search indexer", "image resizer", "notification", "report export", "auth"],
    ),
    "gardening": (
        [
            "When should I plant {thing} if the last frost here is around {date}?",
            "The leaves of my {thing} are turning yellow. I water every {n2} days. What's wrong?",
            "Plan a small vegetable bed of {n} square metres for a family of {n2}.",
        ],
        [
            "Sow {thing} indoors about {n} weeks before the last frost, then harden them off.",
            "Yellow lower leaves usually mean too much water; let the top {n2} cm dry out.",
            "Put the tall crops on the north side so they do not shade the rest.",
            "Mulch with straw in {month}; it keeps moisture in during dry spells.",
            "{name}'s trick of planting marigolds between rows keeps some pests away.",
        ],
        ["tomatoes", "courgettes", "runner beans", "basil", "strawberries", "potatoes"],
    ),
    "music": (
        [
            "I want to learn the {thing} at {n}. How many minutes a day should I practise?",
            "Suggest a setlist of {n2} songs for {name}'s party on {weekday}.",
            "How do I get over stage fright before a recital on {date}?",
        ],
        [
            "Twenty focused minutes a day beat {n2} hours on Sunday.",
            "Start the set with something everyone knows, then slow it down around song {n2}.",
            "Slow practice with a metronome at {n} bpm builds the muscle memory.",
            "Rehearse the first minute many times; nerves fade once you are playing.",
            "Record yourself on {weekday}s and listen back a day later.",
        ],
        ["cello", "piano", "ukulele", "drums", "trumpet", "guitar"],
    ),
    "home": (
        [
            "The {thing} in the kitchen is leaking. Can I fix it myself this {weekday}?",
            "How much does it cost to repaint a {n}-square-metre living room?",
            "We move house on {date}. Make a checklist for the last {n2} weeks.",
        ],
        [
            "Turn off the water first; most {thing} leaks are a worn washer.",
            "Paint for {n} square metres costs about {amount} plus brushes and tape.",
            "Book the movers now; {month} is their busy season.",
            "Label each box with the room and a number; keep a list on your phone.",
            "{name} could take the plants the day before, so the van only carries boxes.",
        ],
        ["tap", "dishwasher hose", "sink trap", "radiator valve", "fridge water line"],
    ),
    "pets": (
        [
            "My {thing} keeps scratching the sofa. How do I stop it without punishment?",
            "We adopt a {thing} on {date}. What should we buy before it comes home?",
            "How often should a {n2}-year-old {thing} see the vet?",
        ],
        [
            "Give it a better option: a tall post near the sofa and a treat when it uses it.",
            "Buy food it already knows, a bed, and book a check-up within {n2} weeks.",
            "Once a year is enough at that age unless something changes.",
            "Short training sessions of {n} minutes work better than one long one.",
            "{name} recommended a harness rather than a collar for walks.",
        ],
        ["cat", "puppy", "rabbit", "parrot", "old dog"],
    ),
    "work": (
        [
            "Draft an agenda for the {thing} review with {name} on {weekday} at {time}.",
            "I have {n} tasks due by {date}. Help me prioritise them.",
            "How do I ask for a raise of {amount} a year without sounding pushy?",
        ],
        [
            "Agenda: status in five minutes, the {n2} open risks, then decisions and owners.",
            "Do the task that unblocks others first, even if it is not the largest.",
            "Anchor the raise on the results of the last {n2} quarters, with numbers.",
            "Send the agenda a day early so {name} can add items.",
            "Block {n} minutes each morning for deep work before meetings start.",
        ],
        ["quarterly roadmap", "hiring plan", "vendor contract", "design system", "onboarding"],
    ),
    "health": (
        [
            "I sleep badly since I changed shifts to start at {time}. Any advice?",
            "How much water should I drink on a {n}-kilometre hike in {month}?",
            "I get headaches every {weekday} afternoon. What could cause that?",
        ],
        [
            "Keep the same wake-up time even on days off; it anchors the body clock.",
            "About half a litre per hour of walking, more above {n} degrees.",
            "Weekly headaches often follow a routine: coffee, screens, or skipped lunch.",
            "Dim the lights {n2} hours before bed and keep the room cool.",
            "If it lasts more than {n2} weeks, see a doctor; keep a short diary until then.",
        ],
        ["sleep", "hydration", "posture", "screen time"],
    ),
    "books": (
        [
            "Recommend {n2} novels like the {thing} I finished on {weekday}.",
            "Help me set up a reading plan of {n} pages a day for {month}.",
            "What should our book club, hosted by {name}, read on {date}?",
        ],
        [
            "If you liked the {thing}, try something slower with the same dry humour.",
            "{n} pages a day finishes a normal novel in about {n2} weeks.",
            "Pick a short book for the holiday meeting; people read less in {month}.",
            "Alternate fiction and non-fiction so the plan does not feel like homework.",
            "{name} could lead the discussion with three questions sent in advance.",
        ],
        ["detective series", "space opera", "family saga", "travel memoir", "historical novel"],
    ),
}

VOTE_REASONS = [
    "the answer covers {a} and gives concrete numbers",
    "clearest plan, and it accounts for {a}",
    "it is the only answer that handles {a} properly",
    "shorter than the others but nothing important is missing about {a}",
    "good structure; the part on {a} is the most practical",
]
ASPECTS = ["the budget", "the timing", "the risks", "the constraints", "safety", "the schedule", "costs"]
THINKING = [
    "Let me check the constraints before answering.",
    "I compared my draft with the other answers first.",
    "The earlier answers missed one detail, so I am adding it.",
    "Keeping this short and practical.",
]

#: (what the user says in passing, a paraphrased question, the value a hit must contain)
NEEDLES: list[tuple[str, str, str]] = [
    ("my locker combination at the gym is 4-17-32", "What's the code that opens my locker at the gym?", "4-17-32"),
    ("my dog's vet is Dr. Okonkwo at Riverside Animal Clinic", "Which veterinarian looks after my dog?", "Okonkwo"),
    ("the Wi-Fi password at the cabin is maple-harbor-88", "What do I type to get online at the cabin?", "maple-harbor-88"),
    ("my passport number ends in 7731", "What are the last digits of my passport?", "7731"),
    ("my daughter Priya is allergic to cashews", "Which nut must my daughter avoid?", "cashews"),
    ("our anniversary dinner is booked at Osteria Lucca", "Where did we reserve a table for our anniversary?", "Osteria Lucca"),
    ("my car's licence plate is KZT-4192", "What is the registration number of my car?", "KZT-4192"),
    ("the garage door keypad code is 5519", "How do I open the garage from the keypad?", "5519"),
    ("my blood type is AB negative", "Which blood group do I have?", "AB negative"),
    ("my landlord is called Mr. Fenwick-Hale", "Who owns the flat I rent?", "Fenwick-Hale"),
    ("the spare house key is hidden under the blue ceramic frog", "Where is the extra house key kept?", "ceramic frog"),
    ("my frequent flyer number with Nordair is NA-55817204", "What is my airline loyalty number?", "NA-55817204"),
    ("my grandmother's maiden name was Szczepanski", "What was Grandma's surname before she married?", "Szczepanski"),
    ("my bike is a teal Surly Cross-Check", "What kind of bicycle do I ride?", "Cross-Check"),
    ("the office printer is at IP 10.42.7.19", "What network address does the office printer have?", "10.42.7.19"),
    ("my therapy sessions are on Thursdays at 8:15", "When do I see my therapist each week?", "Thursdays at 8:15"),
    ("my shoe size is 44.5 EU", "What size shoes do I wear?", "44.5"),
    ("the school pickup password for the kids is lighthouse", "Which word do I give to collect the children from school?", "lighthouse"),
    ("my health insurance policy number is HX-220-981-4", "What's the number on my medical insurance?", "HX-220-981-4"),
    ("my favourite tea is a smoky Lapsang Souchong", "Which tea do I like best?", "Lapsang"),
    ("I parked on level 3, bay 47 of the airport garage", "Where did I leave the car at the airport?", "bay 47"),
    ("my sister Ingrid's birthday is on 9 November", "When does my sister celebrate her birthday?", "9 November"),
    ("our team standup moved to the room called Juniper", "Where is the daily standup held now?", "Juniper"),
    ("the boiler's service PIN is 3308", "What PIN does the heating engineer need?", "3308"),
    ("my cat Mochi takes half a methimazole pill every morning", "What medicine does my cat get?", "methimazole"),
    ("my library card number is 2901 4477 1635", "What's the number on my library card?", "2901 4477 1635"),
    ("my mentor at work is Adaeze Nwosu", "Who is my mentor at the company?", "Adaeze"),
    ("my sourdough starter is named Clint Yeastwood", "What did I call my sourdough starter?", "Clint Yeastwood"),
    ("our storage unit is number 118 at SafeBox on Canal Street", "Which storage unit do we rent?", "SafeBox"),
    ("I'm lactose intolerant but goat cheese is fine for me", "Which dairy can I still eat despite my intolerance?", "goat cheese"),
    ("my piano teacher charges 65 euros per lesson", "How much does one piano lesson cost me?", "65 euros"),
    ("the wedding colour scheme is sage and terracotta", "What colours did we pick for the wedding?", "sage and terracotta"),
    ("my personal best for 10k is 47:12", "What's my fastest 10 kilometre time?", "47:12"),
    ("the router admin password is quokka2291", "What are the credentials for the router settings?", "quokka2291"),
    ("Mateo's football coach is Coach Barrientos", "Who coaches Mateo's football team?", "Barrientos"),
    ("my dentist is on the fourth floor of the Halvorsen Building", "Where is my dentist's office?", "Halvorsen"),
    ("mum's emergency contact is her neighbour Rosalind", "Who should be called if something happens to my mother?", "Rosalind"),
    ("my laptop's serial number is C02ZK1QHMD6T", "What's the serial of my laptop?", "C02ZK1QHMD6T"),
    ("I keep the tax documents in the green accordion folder in the hall closet", "Where are my tax papers stored?", "accordion folder"),
    ("the neighbours' cat that keeps visiting is called Admiral Whiskers", "What's the name of the cat from next door that comes over?", "Admiral Whiskers"),
    ("the Falcon staging database listens on port 6437", "Which port does Falcon's staging DB use?", "6437"),
    ("my preferred seat on long flights is 31K, a window behind the wing", "Which seat do I like on long-haul flights?", "31K"),
    ("the Lisbon hotel confirmation code is LX88Q2", "What's the booking reference for the hotel in Lisbon?", "LX88Q2"),
    ("my violin was made in Mittenwald in 1921", "Where and when was my violin built?", "Mittenwald"),
    ("my usual coffee order is an oat flat white with an extra shot", "How do I take my coffee?", "oat flat white"),
    ("the HOA fee went up to 342 dollars a month", "How much is the homeowners' association charge now?", "342 dollars"),
    ("my eye prescription is -2.75 in both eyes", "What is my glasses prescription?", "-2.75"),
    ("the bike shed padlock combination is 0-8-1-5", "What opens the padlock on the bike shed?", "0-8-1-5"),
    ("my book club is reading The Salt Orchard this month", "Which novel is my reading group on right now?", "The Salt Orchard"),
    ("the plumber who fixed our leak was Teodor from DripRight", "Who repaired the leaking pipe?", "DripRight"),
]  # fmt: skip
NEEDLE_LEADS = ["Before I forget, {f}.", "Side note: {f}.", "Also, for the record, {f}.", "By the way, {f}."]


class Synth:
    """Deterministic generator of questions, answers and votes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.values = [v.lower() for _, _, v in NEEDLES]
        self.topics = list(TOPICS)

    def _slots(self, topic: str) -> dict[str, str]:
        r = self.rng
        things = TOPICS[topic][2]
        return {
            "name": r.choice(NAMES),
            "city": r.choice(CITIES),
            "month": r.choice(MONTHS),
            "weekday": r.choice(WEEKDAYS),
            "date": f"{r.choice(MONTHS)} {r.randint(1, 28)}, {r.randint(2024, 2027)}",
            "time": f"{r.randint(6, 21):02d}:{r.choice(('00', '30', '45'))}",
            "n": str(r.randint(2, 90)),
            "n2": str(r.randint(2, 12)),
            "amount": f"${r.randint(2, 400) * 25:,}",
            "thing": r.choice(things),
        }

    def _clean(self, make: Any) -> str:
        """A text from ``make()`` that holds no needle's value."""
        for _ in range(100):
            text = make()
            low = text.lower()
            if not any(v in low for v in self.values):
                return text
        raise RuntimeError("could not generate a text free of needle values")

    def question(self, topic: str | None = None) -> tuple[str, str]:
        topic = topic or self.rng.choice(self.topics)
        templates = TOPICS[topic][0]
        return topic, self._clean(lambda: self.rng.choice(templates).format(**self._slots(topic)))

    def answer(self, topic: str) -> str:
        sentences = TOPICS[topic][1]

        def make() -> str:
            picked = self.rng.sample(sentences, self.rng.randint(2, len(sentences)))
            return " ".join(s.format(**self._slots(topic)) for s in picked)

        return self._clean(make)

    def vote_reason(self) -> str:
        return self.rng.choice(VOTE_REASONS).format(a=self.rng.choice(ASPECTS))


@dataclass
class Call:
    """One agent's ``record`` call for one question of a session."""

    agent_id: str
    session_id: str
    turn: int
    messages: list[dict[str, Any]]


@dataclass
class Turn:
    session_id: str
    turn: int
    agents: tuple[str, ...]
    calls: list[Call]
    needles: list[int] = field(default_factory=list)


def team_turns(seed: int, agents: tuple[str, ...] = AGENTS) -> Iterator[Turn]:
    """Endless team sessions, question by question (needles are added by the caller)."""
    synth = Synth(seed)
    rng = synth.rng
    session = 0
    while True:
        session += 1
        session_id = f"bench-{seed}-{session:05d}"
        team = tuple(rng.sample(agents, rng.randint(3, len(agents))))
        for turn in range(1, rng.randint(5, 30) + 1):
            topic, question = synth.question()
            winner = rng.choice(team)
            calls = []
            for agent in team:
                messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
                text = rng.choice(THINKING) if rng.random() < 0.35 else ""
                call = {"name": "new_answer", "arguments": {"content": synth.answer(topic)}}
                messages.append({"role": "assistant", "content": text, "tool_calls": [call]})
                if rng.random() < 0.8:
                    target = winner if rng.random() < 0.75 else rng.choice(team)
                    vote = {"name": "vote", "arguments": {"agent_id": target, "reason": synth.vote_reason()}}
                    messages.append({"role": "assistant", "content": "", "tool_calls": [vote]})
                calls.append(Call(agent, session_id, turn, messages))
            yield Turn(session_id, turn, team, calls)


def plant(turn: Turn, needle_ids: list[int], rng: random.Random) -> None:
    """The user states the needles in passing, before this question (every agent records it)."""
    lead = " ".join(rng.choice(NEEDLE_LEADS).format(f=NEEDLES[i][0]) for i in needle_ids)
    for call in turn.calls:
        call.messages[0]["content"] = f"{lead} Anyway: {call.messages[0]['content']}"
    turn.needles.extend(needle_ids)


def random_winners(rng: random.Random, agents: tuple[str, ...] = AGENTS) -> list[tuple[str, int]]:
    """Earlier winners of the running session, as the team passes them to retrieval."""
    return [(rng.choice(agents), t) for t in range(1, rng.randint(0, 6) + 1)]


def query_texts(seed: int, count: int) -> list[str]:
    synth = Synth(seed + 1000)
    return [synth.question()[1] for _ in range(count)]


# ----------------------------------------------------------------------------- helpers


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def disk_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total / 2**20


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _embed_model() -> str | None:
    """The ONNX model's recipe (int8 or float32, chosen by the CPU), ``None`` without onnxruntime."""
    try:
        from massmem.memory.onnx_minilm import recipe

        return recipe()
    except Exception:
        return None


def cpu_info() -> dict[str, Any]:
    """The CPU's model and the vector extensions that decide the int8 embedder's speed.

    Why: figures from two machines are not comparable without it — the same query embeds in
    ~4 ms on a core with AVX-512 VNNI (int8 dot products in one instruction) and in ~19 ms on
    a 2 GHz AVX2-only core.
    """
    from massmem.memory.onnx_minilm import cpu_features

    model, flags = cpu_features()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return {"cpu_model": model, "cpu_flags": [f for f in wanted if f in flags]}


class _GcPauses:
    """Python's garbage collections during the timed queries: how many of each generation, how long."""

    def __init__(self) -> None:
        self.started = 0.0
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self.started) * 1000)

    def summary(self) -> dict[str, Any]:
        return {
            "tracked_objects": len(gc.get_objects()),
            **{f"gen{g}_count": len(p) for g, p in self.pauses.items()},
            **{f"gen{g}_max_ms": round(max(p, default=0.0), 2) for g, p in self.pauses.items()},
            "total_ms": round(sum(sum(p) for p in self.pauses.values()), 1),
        }


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _needle_positions(records: int) -> list[int]:
    """Evenly spread, the last one early enough to be planted before the run stops."""
    span = records - 25  # a question adds at most ~20 records (5 agents x 4 entries)
    return [int((i + 0.5) * span / NEEDLE_COUNT) for i in range(NEEDLE_COUNT)]


def _add_slice(slices: list[dict[str, float]], count: int, done: int, seconds: float, cpu: float) -> None:
    """One ~1k slice of ingest; a short tail (under half a slice) joins the slice before it.

    ``cpu`` is the process's CPU time (all threads) in the slice: on a shared machine
    turns per CPU-second tells the engine's own slowdown from the neighbours' load.
    """
    if slices and done < SLICE // 2:
        last = slices.pop()
        done += int(last["size"])
        seconds += last["seconds"]
        cpu += last["cpu_seconds"]
    slices.append(
        {
            "records": count,
            "size": done,
            "seconds": seconds,
            "turns_per_s": done / seconds,
            "cpu_seconds": cpu,
            "turns_per_cpu_s": done / cpu if cpu else 0.0,
        }
    )


def _hit(texts: list[str], needle: int) -> bool:
    value = NEEDLES[needle][2].lower()
    return any(value in t.lower() for t in texts[:10])


# ----------------------------------------------------------------------------- child: massmem


def _memory_config(store: Path) -> Any:
    from massmem.config.schema import PersistentMemoryConfig, QdrantConfig

    # raw records only: no LLM (what a team gets with memory.persistent_memory.llm.provider: none)
    return PersistentMemoryConfig(
        enabled=True, llm={"provider": "none"}, qdrant=QdrantConfig(mode="local", path=str(store))
    )


def child_ingest(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio
    import logging

    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_ingest(args))


async def _ingest(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    from massmem.config.schema import RecordingConfig, RetrievalConfig
    from massmem.memory.embedder import create_embedder
    from massmem.memory.persistent import PersistentMemory
    from massmem.memory.store import close_all_stores, open_store

    config = _memory_config(Path(args.store))
    retrieval = RetrievalConfig(limit=10, exclude_recent=True)
    memories: dict[tuple[str, str], PersistentMemory] = {}

    def memory_of(agent: str, session: str) -> PersistentMemory:
        """What :func:`bind_memory` builds for one agent of one session."""
        key = (agent, session)
        if key not in memories:
            memories[key] = PersistentMemory(
                config, agent_id=agent, session_id=session, retrieval=retrieval, recording=RecordingConfig()
            )
        return memories[key]

    # Loading the shared model and opening the store happen once per process, before any agent
    # records: they are the cold open's business, not the ingest rate's.
    create_embedder(config.embedding).embed_one("load the model before timing")
    open_store(config.qdrant)
    target = args.records
    positions = _needle_positions(target)
    rng = random.Random(args.seed + 1)
    planted: list[dict[str, Any]] = []
    count, calls, turns, sessions = 0, 0, 0, set()
    slices: list[dict[str, float]] = []
    started = time.perf_counter()
    cpu0 = time.process_time()
    load_start = loadavg()
    slice_start, slice_count, slice_cpu = started, 0, time.process_time()
    current_session = None
    for turn in team_turns(args.seed):
        if count >= target:
            break
        if turn.session_id != current_session:
            for memory in memories.values():  # the previous session's team is gone
                memory.close()
            memories.clear()
            current_session = turn.session_id
        due = [i for i, p in enumerate(positions) if p <= count and i not in {n["needle"] for n in planted}]
        if due:
            plant(turn, due, rng)
            for i in due:
                planted.append(
                    {"needle": i, "session": turn.session_id, "turn": turn.turn, "agents": list(turn.agents)}
                )
        results = await asyncio.gather(
            *(memory_of(c.agent_id, c.session_id).record(c.messages, turn=c.turn) for c in turn.calls)
        )
        count += sum(len(r.raw_ids) for r in results)
        calls += len(turn.calls)
        turns += 1
        sessions.add(turn.session_id)
        if count - slice_count >= SLICE or (count >= target and count > slice_count):
            now = time.perf_counter()
            cpu_now = time.process_time()
            _add_slice(slices, count, count - slice_count, now - slice_start, cpu_now - slice_cpu)
            _say(
                f"  {count:>7,} records  {slices[-1]['turns_per_s']:7.1f} turns/s, "
                f"{slices[-1]['turns_per_cpu_s']:7.1f} per CPU-s (last slice; load {loadavg()})"
            )
            slice_start, slice_count, slice_cpu = now, count, cpu_now
    ingest_s = time.perf_counter() - started
    ingest_cpu = time.process_time() - cpu0
    for memory in memories.values():
        memory.close()
    memories.clear()

    # ---- queries: as one agent of a running session would ask
    agent_memories = {a: memory_of(a, "bench-query-session") for a in AGENTS}
    embedder = create_embedder(config.embedding)
    qrng = random.Random(args.seed + 2)
    texts = query_texts(args.seed, args.warmup + args.queries)
    for q in texts[: args.warmup]:
        await agent_memories[qrng.choice(AGENTS)].retrieve(q, previous_winners=random_winners(qrng))
    total_ms, embed_ms, engine_ms, returned = [], [], [], []
    gc_pauses = _GcPauses()  # a full collection over an ingest's leftovers shows up as a slow query
    gc.callbacks.append(gc_pauses)
    for q in texts[args.warmup :]:
        memory = agent_memories[qrng.choice(AGENTS)]
        winners = random_winners(qrng)
        t0 = time.perf_counter()
        hits = await memory.retrieve(q, previous_winners=winners)
        ms = (time.perf_counter() - t0) * 1000
        # the query's embedding alone (engine time ~= ms - e_ms); past the embedder's recent-vector
        # cache, which now holds this query, when the embedder has one
        embed_pass = getattr(embedder, "_embed", None) or (lambda texts: embedder.embed(texts))
        t1 = time.perf_counter()
        embed_pass([q])
        e_ms = (time.perf_counter() - t1) * 1000
        total_ms.append(ms)
        embed_ms.append(e_ms)
        engine_ms.append(max(0.0, ms - e_ms))
        returned.append(len(hits))
    gc.callbacks.remove(gc_pauses)

    # ---- needles: a paraphrased question from one of the agents that recorded it
    needle_rows = []
    for row in planted:
        i = row["needle"]
        agent = qrng.choice(row["agents"])
        hits = await agent_memories[agent].retrieve(NEEDLES[i][1], previous_winners=random_winners(qrng))
        texts_found = [h.text for h in hits]
        rank = next((k + 1 for k, t in enumerate(texts_found) if NEEDLES[i][2].lower() in t.lower()), None)
        needle_rows.append({**row, "agent": agent, "rank": rank, "hit": rank is not None and rank <= 10})
    embed_runtime = getattr(embedder, "runtime", None)
    try:
        stored = agent_memories[AGENTS[0]].count()
    except Exception:  # not part of what agents call; informative only
        stored = None
    for memory in agent_memories.values():
        memory.close()
    close_all_stores()

    first = slices[0]["turns_per_s"] if slices else None
    last = slices[-1]["turns_per_s"] if slices else None
    return {
        "records": count,
        "records_in_store": stored,
        "record_calls": calls,
        "questions": turns,
        "sessions": len(sessions),
        "ingest_seconds": round(ingest_s, 3),
        "ingest_cpu_seconds": round(ingest_cpu, 3),
        "ingest_turns_per_s": round(count / ingest_s, 1),
        "ingest_turns_per_cpu_s": round(count / ingest_cpu, 1) if ingest_cpu else None,
        "ingest_slices": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()} for s in slices
        ],
        "ingest_first_slice": round(first, 1) if first else None,
        "ingest_last_slice": round(last, 1) if last else None,
        "ingest_last_over_first": round(last / first, 3) if first and last else None,
        "queries": len(total_ms),
        "query_p50_ms": round(pct(total_ms, 0.5) or 0, 2),
        "query_p95_ms": round(pct(total_ms, 0.95) or 0, 2),
        "query_max_ms": round(max(total_ms), 2) if total_ms else None,
        "query_embed_p50_ms": round(pct(embed_ms, 0.5) or 0, 2),
        "query_engine_p50_ms": round(pct(engine_ms, 0.5) or 0, 2),
        "query_engine_p95_ms": round(pct(engine_ms, 0.95) or 0, 2),
        "query_gc": gc_pauses.summary(),
        "query_hits_mean": round(statistics.mean(returned), 2) if returned else None,
        "needles": len(needle_rows),
        "needle_hit_at_10": round(sum(r["hit"] for r in needle_rows) / len(needle_rows), 3)
        if needle_rows
        else None,
        "needle_rows": needle_rows,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "embed_runtime": embed_runtime,
        "embed_model": _embed_model(),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
    }


def child_cold(args: argparse.Namespace, t_main: float) -> dict[str, Any]:
    import asyncio
    import logging

    logging.basicConfig(level=logging.WARNING)
    t0 = time.time()
    from massmem.config.schema import RetrievalConfig
    from massmem.memory.embedder import create_embedder
    from massmem.memory.persistent import PersistentMemory
    from massmem.memory.store import open_store

    t_import = time.time()
    config = _memory_config(Path(args.store))
    open_store(config.qdrant)
    t_store = time.time()
    create_embedder(config.embedding).embed_one("load the model")
    t_embedder = time.time()
    memory = PersistentMemory(
        config, agent_id=AGENTS[0], session_id="bench-cold", retrieval=RetrievalConfig(limit=10)
    )
    t_memory = time.time()
    query = NEEDLES[0][1]

    async def ask() -> int:
        return len(await memory.retrieve(query, previous_winners=[(AGENTS[1], 1), (AGENTS[2], 2)]))

    hits = asyncio.run(ask())
    t_first = time.time()
    asyncio.run(ask())
    t_second = time.time()
    memory.close()
    return {
        "main_at": t_main,
        "first_retrieve_at": t_first,
        "import_s": t_import - t0,
        "open_store_s": t_store - t_import,
        "load_embedder_s": t_embedder - t_store,
        "build_memory_s": t_memory - t_embedder,
        "first_retrieve_s": t_first - t_memory,
        "second_retrieve_s": t_second - t_first,
        "hits": hits,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


# ----------------------------------------------------------------------------- child: mem0


def child_mem0(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from massmem.memory.embedder import local_model_dir
    from massmem.memory.mem0_setup import import_mem0
    from massmem.memory.recording import prepare_entries

    import_mem0()
    from mem0 import Memory

    root = Path(args.store)
    memory = Memory.from_config(
        {
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "collection_name": "scale",
                    "path": str(root / "qdrant"),
                    "embedding_model_dims": 384,
                    "on_disk": True,
                },
            },
            "embedder": {"provider": "huggingface", "config": {"model": str(local_model_dir())}},
            # infer=False never calls the LLM; mem0 still builds one, so give it a dummy key.
            "llm": {"provider": "openai", "config": {"api_key": "unused-with-infer-false"}},
            "history_db_path": str(root / "history.db"),
        }
    )
    memory.embedding_model.embed("load the model before timing")
    target = args.records
    positions = _needle_positions(target)
    rng = random.Random(args.seed + 1)
    planted: list[dict[str, Any]] = []
    count = 0
    slices: list[dict[str, float]] = []
    started = time.perf_counter()
    slice_start, slice_count, slice_cpu = started, 0, time.process_time()
    try:
        for turn in team_turns(args.seed):
            if count >= target:
                break
            due = [
                i for i, p in enumerate(positions) if p <= count and i not in {n["needle"] for n in planted}
            ]
            if due:
                plant(turn, due, rng)
                planted += [{"needle": i, "agents": list(turn.agents)} for i in due]
            for call in turn.calls:
                entries, _tools = prepare_entries(call.messages)
                memory.add(
                    [{"role": e.role, "content": e.text} for e in entries],
                    agent_id=call.agent_id,
                    run_id=call.session_id,
                    metadata={"turn": call.turn},
                    infer=False,
                )
                count += len(entries)
            if count - slice_count >= SLICE or (count >= target and count > slice_count):
                now = time.perf_counter()
                cpu_now = time.process_time()
                _add_slice(slices, count, count - slice_count, now - slice_start, cpu_now - slice_cpu)
                _say(f"  mem0 {count:>7,} records  {slices[-1]['turns_per_s']:7.1f} turns/s (last slice)")
                slice_start, slice_count, slice_cpu = now, count, cpu_now
        ingest_s = time.perf_counter() - started
        qrng = random.Random(args.seed + 2)
        texts = query_texts(args.seed, args.warmup + args.queries)

        def search(q: str, agent: str) -> list[str]:
            found = memory.search(q, filters={"agent_id": agent}, top_k=10, threshold=0.0)
            return [str(r.get("memory", "")) for r in found.get("results", [])]

        for q in texts[: args.warmup]:
            search(q, qrng.choice(AGENTS))
        total_ms = []
        for q in texts[args.warmup :]:
            t0 = time.perf_counter()
            search(q, qrng.choice(AGENTS))
            total_ms.append((time.perf_counter() - t0) * 1000)
        hits = [_hit(search(NEEDLES[r["needle"]][1], qrng.choice(r["agents"])), r["needle"]) for r in planted]
    finally:
        with contextlib.suppress(Exception):
            memory.vector_store.client.close()
        with contextlib.suppress(Exception):
            memory.db.close()
    return {
        "records": count,
        "ingest_seconds": round(ingest_s, 3),
        "ingest_turns_per_s": round(count / ingest_s, 1),
        "ingest_first_slice": round(slices[0]["turns_per_s"], 1) if slices else None,
        "ingest_last_slice": round(slices[-1]["turns_per_s"], 1) if slices else None,
        "query_p50_ms": round(pct(total_ms, 0.5) or 0, 2),
        "query_p95_ms": round(pct(total_ms, 0.95) or 0, 2),
        "needle_hit_at_10": round(sum(hits) / len(hits), 3) if hits else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


# ----------------------------------------------------------------------------- parent


def _cache_dir() -> str:
    if os.environ.get("MASSMEM_CACHE_DIR"):
        return os.environ["MASSMEM_CACHE_DIR"]
    home = os.environ.get("MASSMEM_HOME") or str(Path.home() / ".massmem")
    return str(Path(home).expanduser() / "cache")


def _child(
    kind: str, args: argparse.Namespace, store: Path, home: Path, out: Path
) -> tuple[dict[str, Any], float]:
    """Run this script as a child of ``kind``; its JSON answer and the time just before the spawn."""
    env = {
        **os.environ,
        "MASSMEM_HOME": str(home),
        "MASSMEM_CACHE_DIR": _cache_dir(),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--store",
        str(store),
        "--out",
        str(out),
        "--records",
        str(args.records_one),
        "--seed",
        str(args.seed),
        "--queries",
        str(args.queries),
        "--warmup",
        str(args.warmup),
    ]
    spawned = time.time()
    done = subprocess.run(command, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {kind} child for {args.records_one} records exited with {done.returncode}")
    return json.loads(out.read_text(encoding="utf-8")), spawned


def run_size(records: int, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"massmem-scale-{records}-", dir=args.tmp))
    store, home = root / "store", root / "home"
    home.mkdir(parents=True)
    args.records_one = records
    try:
        _say(f"== {records:,} records: ingest + queries + needles (store {store})")
        run, _ = _child("ingest", args, store, home, root / "ingest.json")
        run["disk_mb"] = round(disk_mb(store), 1)
        tries = []
        for n in range(args.cold_runs):
            child, spawned = _child("cold", args, store, home, root / f"cold{n}.json")
            child["interpreter_s"] = child["main_at"] - spawned
            child["total_s"] = child["first_retrieve_at"] - spawned
            tries.append({k: round(v, 3) if isinstance(v, float) else v for k, v in child.items()})
            _say(f"  cold open {n + 1}/{args.cold_runs}: {child['total_s']:.2f} s")
            if not child["hits"]:
                _say("  WARNING: the cold process's first retrieve found nothing")
        median = sorted(tries, key=lambda t: t["total_s"])[len(tries) // 2]
        run["cold_open_s"] = median["total_s"]
        run["cold_open_breakdown"] = {
            k: median[k]
            for k in (
                "interpreter_s",
                "import_s",
                "open_store_s",
                "load_embedder_s",
                "build_memory_s",
                "first_retrieve_s",
                "second_retrieve_s",
                "peak_rss_mb",
            )
        }
        run["cold_open_runs"] = [t["total_s"] for t in tries]
        if args.with_mem0:
            if records > args.mem0_max_records:
                _say(f"  mem0: skipped above {args.mem0_max_records:,} records (--mem0-max-records)")
            else:
                mem0_root = root / "mem0"
                mem0_root.mkdir()
                try:
                    m, _ = _child("mem0", args, mem0_root, home, root / "mem0.json")
                    m["disk_mb"] = round(disk_mb(mem0_root), 1)
                    run["mem0"] = m
                except RuntimeError as exc:
                    _say(f"  mem0: {exc}")
                    run["mem0"] = {"error": str(exc)}
        return run
    finally:
        if args.keep:
            _say(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(runs: list[dict[str, Any]]) -> str:
    head = (
        "| records | ingest turns/s | first 1k | last 1k | last/first | query p50 ms | query p95 ms "
        "| cold open s | peak RSS MB | disk MB | needle hit@10 |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in runs:
        lines.append(
            f"| {r['records']:,} | {_fmt(r['ingest_turns_per_s'], '.0f')} | {_fmt(r.get('ingest_first_slice'), '.0f')} "
            f"| {_fmt(r.get('ingest_last_slice'), '.0f')} | {_fmt(r.get('ingest_last_over_first'), '.2f')} "
            f"| {_fmt(r['query_p50_ms'], '.1f')} | {_fmt(r['query_p95_ms'], '.1f')} | {_fmt(r['cold_open_s'], '.2f')} "
            f"| {_fmt(r['peak_rss_mb'], '.0f')} | {_fmt(r['disk_mb'], '.1f')} | {_fmt(r['needle_hit_at_10'], '.2f')} |"
        )
        m = r.get("mem0")
        if m and "error" not in m:
            lines.append(
                f"| mem0 {m['records']:,} | {_fmt(m['ingest_turns_per_s'], '.0f')} | {_fmt(m.get('ingest_first_slice'), '.0f')} "
                f"| {_fmt(m.get('ingest_last_slice'), '.0f')} | — | {_fmt(m['query_p50_ms'], '.1f')} "
                f"| {_fmt(m['query_p95_ms'], '.1f')} | — | {_fmt(m['peak_rss_mb'], '.0f')} | {_fmt(m['disk_mb'], '.1f')} "
                f"| {_fmt(m['needle_hit_at_10'], '.2f')} |"
            )
    g = GOALS
    lines.append(
        f"| **goal at 100,000** | ≥ {g['ingest_turns_per_s']:.0f} | | | ≥ {g['ingest_last_over_first']:.2f} | "
        f"| ≤ {g['query_p95_ms']:.0f} | ≤ {g['cold_open_s']:.0f} | ≤ {g['peak_rss_mb']:.0f} | "
        f"| ≥ {g['needle_hit_at_10']:.1f} |"
    )
    return "\n".join(lines)


def breakdown_table(runs: list[dict[str, Any]]) -> str:
    keys = [
        "interpreter_s",
        "import_s",
        "open_store_s",
        "load_embedder_s",
        "build_memory_s",
        "first_retrieve_s",
    ]
    head = (
        "| records | cold open s | " + " | ".join(k.removesuffix("_s").replace("_", " ") for k in keys) + " |"
    )
    lines = [head, "|" + "---|" * (len(keys) + 2)]
    for r in runs:
        b = r["cold_open_breakdown"]
        lines.append(
            f"| {r['records']:,} | {r['cold_open_s']:.2f} | " + " | ".join(f"{b[k]:.2f}" for k in keys) + " |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plot


def write_plot(runs: list[dict[str, Any]], path: Path) -> str:
    """PNG through matplotlib when asked for and installed, else a hand-written SVG."""
    if path.suffix.lower() == ".png":
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            path = path.with_suffix(".svg")
        else:
            fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
            for r in runs:
                xs = [s["records"] for s in r["ingest_slices"]]
                a.plot(
                    xs, [s["turns_per_s"] for s in r["ingest_slices"]], marker=".", label=f"{r['records']:,}"
                )
            a.axhline(GOALS["ingest_turns_per_s"], ls="--", c="grey")
            a.set(xlabel="records ingested", ylabel="turns/s per 1k slice", title="ingest")
            a.legend()
            labels = [f"{r['records']:,}" for r in runs]
            b.bar([i - 0.2 for i in range(len(runs))], [r["query_p50_ms"] for r in runs], 0.4, label="p50")
            b.bar([i + 0.2 for i in range(len(runs))], [r["query_p95_ms"] for r in runs], 0.4, label="p95")
            b.axhline(GOALS["query_p95_ms"], ls="--", c="grey")
            b.set_xticks(range(len(runs)), labels)
            b.set(xlabel="records", ylabel="ms", title="retrieve latency")
            b.legend()
            fig.tight_layout()
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_svg(runs), encoding="utf-8")
    return str(path)


def _svg(runs: list[dict[str, Any]]) -> str:
    w, h, pad = 420, 280, 50
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{2 * w}" height="{h}" fill="white"/>',
    ]

    def axes(x0: int, title: str, xlabel: str, ylabel: str, ymax: float) -> None:
        out.append(f'<text x="{x0 + w / 2}" y="18" text-anchor="middle" font-size="13">{title}</text>')
        out.append(f'<line x1="{x0 + pad}" y1="{h - pad}" x2="{x0 + w - 15}" y2="{h - pad}" stroke="black"/>')
        out.append(f'<line x1="{x0 + pad}" y1="30" x2="{x0 + pad}" y2="{h - pad}" stroke="black"/>')
        out.append(f'<text x="{x0 + w / 2}" y="{h - 12}" text-anchor="middle">{xlabel}</text>')
        out.append(
            f'<text x="{x0 + 14}" y="{h / 2}" text-anchor="middle" '
            f'transform="rotate(-90 {x0 + 14} {h / 2})">{ylabel}</text>'
        )
        for k in range(5):
            v = ymax * k / 4
            y = h - pad - (h - pad - 30) * k / 4
            out.append(f'<text x="{x0 + pad - 4}" y="{y + 4}" text-anchor="end">{v:.0f}</text>')

    def goal(x0: int, y: float, label: str) -> None:
        out.append(
            f'<line x1="{x0 + pad}" y1="{y:.1f}" x2="{x0 + w - 15}" y2="{y:.1f}" stroke="grey" stroke-dasharray="4 3"/>'
        )
        out.append(f'<text x="{x0 + w - 17}" y="{y - 3:.1f}" text-anchor="end" fill="grey">{label}</text>')

    # left: ingest rate per 1k slice
    xmax = max(s["records"] for r in runs for s in r["ingest_slices"])
    ymax = (
        max([GOALS["ingest_turns_per_s"], *(s["turns_per_s"] for r in runs for s in r["ingest_slices"])])
        * 1.15
    )
    axes(0, "ingest, turns/s per 1k slice", "records ingested", "turns/s", ymax)
    sx = lambda x: pad + (w - pad - 15) * x / xmax  # noqa: E731
    sy = lambda y: h - pad - (h - pad - 30) * y / ymax  # noqa: E731
    out.append(f'<text x="{sx(xmax)}" y="{h - pad + 14}" text-anchor="end">{xmax:,}</text>')
    goal(0, sy(GOALS["ingest_turns_per_s"]), f"goal {GOALS['ingest_turns_per_s']:.0f}")
    for i, r in enumerate(runs):
        points = " ".join(f"{sx(s['records']):.1f},{sy(s['turns_per_s']):.1f}" for s in r["ingest_slices"])
        colour = colours[i % len(colours)]
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for s in r["ingest_slices"]:
            out.append(
                f'<circle cx="{sx(s["records"]):.1f}" cy="{sy(s["turns_per_s"]):.1f}" r="3" fill="{colour}"/>'
            )
        out.append(f'<text x="{pad + 10}" y="{40 + 14 * i}" fill="{colour}">{r["records"]:,} records</text>')
    # right: query p50 / p95 per size
    ymax = max([GOALS["query_p95_ms"], *(r["query_p95_ms"] for r in runs)]) * 1.15
    axes(w, "retrieve latency (ms)", "records", "ms", ymax)
    sy = lambda y: h - pad - (h - pad - 30) * y / ymax  # noqa: E731
    goal(w, sy(GOALS["query_p95_ms"]), f"p95 goal {GOALS['query_p95_ms']:.0f} ms")
    slot = (w - pad - 15) / max(1, len(runs))
    for i, r in enumerate(runs):
        x = w + pad + slot * i + slot * 0.2
        bw = slot * 0.3
        for j, (key, colour) in enumerate((("query_p50_ms", "#1f77b4"), ("query_p95_ms", "#ff7f0e"))):
            y = sy(r[key])
            out.append(
                f'<rect x="{x + j * bw:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h - pad - y:.1f}" fill="{colour}"/>'
            )
            out.append(
                f'<text x="{x + j * bw + bw / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{r[key]:.1f}</text>'
            )
        out.append(f'<text x="{x + bw:.1f}" y="{h - pad + 14}" text-anchor="middle">{r["records"]:,}</text>')
    out.append(f'<text x="{2 * w - 20}" y="40" text-anchor="end" fill="#1f77b4">p50</text>')
    out.append(f'<text x="{2 * w - 20}" y="54" text-anchor="end" fill="#ff7f0e">p95</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- main


def _sizes(values: list[str]) -> list[int]:
    sizes = []
    for value in values:
        for part in value.replace("_", "").split(","):
            if part.strip():
                n = int(float(part.strip().lower().replace("k", "e3")))
                if n < NEEDLE_COUNT * 2:
                    raise argparse.ArgumentTypeError(f"--records must be at least {NEEDLE_COUNT * 2}")
                sizes.append(n)
    return sizes


def main(argv: list[str] | None = None) -> int:
    t_main = time.time()
    parser = argparse.ArgumentParser(description="persistent memory at scale (issue #15)")
    parser.add_argument(
        "--records", action="append", required=True, help="size(s): 1000,10000 or 10k; repeatable"
    )
    parser.add_argument("--json", type=Path, help="write the runs to this JSON file")
    parser.add_argument("--plot", type=Path, help="ingest and latency chart (.svg, or .png with matplotlib)")
    parser.add_argument("--queries", type=int, default=200, help="timed retrieve calls (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed retrieve calls first (default 20)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold-open processes per size (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--with-mem0", action="store_true", help="also mem0's own Memory, for small sizes")
    parser.add_argument(
        "--mem0-max-records",
        type=int,
        default=MEM0_MAX_RECORDS,
        help=f"largest size mem0 runs at (default {MEM0_MAX_RECORDS:,}; it ingests ~10 turns/s here)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary stores")
    parser.add_argument("--tmp", default=None, help="parent folder of the temporary stores")
    parser.add_argument("--child", choices=("ingest", "cold", "mem0"), help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        args.records = _sizes(args.records)[0]
        if args.child == "ingest":
            result = child_ingest(args)
        elif args.child == "cold":
            result = child_cold(args, t_main)
        else:
            result = child_mem0(args)
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return 0

    try:
        sizes = _sizes(args.records)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    runs = []
    for records in sizes:
        runs.append(run_size(records, args))
        if len(sizes) > 1:
            print(table(runs[-1:]), file=sys.stderr)
    print(table(runs))
    print()
    print("cold open breakdown (median try):")
    print(breakdown_table(runs))
    cpu = cpu_info()
    print(
        f"(load average at the end: {loadavg()}, {os.cpu_count()} CPUs: {cpu['cpu_model']}, "
        f"{' '.join(cpu['cpu_flags']) or 'no AVX2'})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "runs": runs,
            "goals": {"records": 100_000, **GOALS},
            "machine": {
                **cpu_info(),
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "loadavg_end": loadavg(),
            },
            "seed": args.seed,
        }
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        _say(f"wrote {args.json}")
    if args.plot:
        _say(f"wrote {write_plot(runs, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
