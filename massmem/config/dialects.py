"""MassGen's and DevAll's spellings rewritten into massmem's own, before validation.

massmem implements MassGen's memory and coordination and DevAll's memory stores, so a user of
either should be able to bring their YAML.  This step runs on the plain data the YAML reader
built, before the cross-checks and the schema: each alias is moved to its canonical key and the
line of every moved key travels with it, so an error in an aliased value still points at the
user's own line.  Only massmem's canonical spelling ever reaches the schema, so massmem's own
output (``model_dump``, session state, ``massmem migrate``) speaks one dialect.

MassGen's local tool machinery (MCP servers, custom tools, workspaces, snapshots, Claude Code
and AG2 agents) is refused here by name, never dropped: massmem does not run it, and a team that
silently lost its tools would give different answers without saying why.

Existing massmem configs pass through untouched: every rewrite is keyed on a spelling massmem
itself does not accept.
"""

from __future__ import annotations

from typing import Any, Final

from massmem.config.locations import LineMap, Part, format_path, line_for
from massmem.errors import ConfigIssue

__all__ = ["ALIASES", "NOT_RUN", "REFUSED_KEYS", "REFUSED_TYPES", "TYPE_ALIASES", "normalise"]

#: MassGen backend types that are a preset of massmem's ``chatcompletion`` (type -> provider)
TYPE_ALIASES: Final[dict[str, str | None]] = {
    "grok": "grok",
    "lmstudio": "lmstudio",
    "vllm": "vllm",
    "sglang": "sglang",
    "zai": "zai",
    "azure_openai": None,  # no fixed endpoint: base_url, or ${AZURE_OPENAI_ENDPOINT} as MassGen reads it
}

#: MassGen's ``ui.display_type`` values -> massmem's ``ui.display``
DISPLAY_VALUES: Final[dict[str, str]] = {
    "rich_terminal": "rich",
    "textual_terminal": "rich",
    "simple": "plain",
    "terminal": "plain",
    "none": "none",
    "silent": "none",
}

#: MassGen's local tool machinery, by the key that turns it on; massmem runs none of it
REFUSED_KEYS: Final[dict[str, str]] = {
    "mcp_servers": "MCP servers",
    "custom_tools": "custom tools",
    "cwd": "agent workspaces",
    "workspace": "agent workspaces",
    "workspace_path": "agent workspaces",
    "snapshot_storage": "workspace snapshots",
    "agent_temporary_workspace": "temporary workspaces",
    "context_paths": "context paths",
}

#: MassGen agent types massmem does not run (they run their own local tools)
REFUSED_TYPES: Final[dict[str, str]] = {
    "claude_code": "Claude Code agents",
    "ag2": "AG2 agents",
}

#: DevAll store types -> massmem store types (``simple`` with an embedding becomes ``vector``)
STORE_TYPES: Final[dict[str, str]] = {
    "simple": "list",
    "file": "file",
    "blackboard": "blackboard",
    "mem0": "mem0",
}

#: every accepted alias and its canonical key, for docs/configuration.md (generated section)
ALIASES: Final[tuple[tuple[str, str, str], ...]] = (
    ("agent: {...} (one agent)", "agents: [{...}]", "MassGen"),
    ("ui.display_type / ui.type / display.type", "ui.display", "MassGen"),
    ("rich_terminal / textual_terminal / simple", "rich / rich / plain", "MassGen"),
    (
        "ui.logging_enabled / display.logging_enabled",
        "(accepted, ignored: massmem has no logging switch; logs go to ui.log_dir)",
        "MassGen",
    ),
    ("backend.reasoning.effort", "backend.reasoning_effort", "MassGen"),
    ("backend.reasoning.summary", "backend.reasoning_summary", "MassGen"),
    (
        "backend.type: grok / lmstudio / vllm / sglang / zai",
        "type: chatcompletion + provider: the same name",
        "MassGen",
    ),
    (
        "backend.type: azure_openai",
        "type: chatcompletion + base_url (default ${AZURE_OPENAI_ENDPOINT}, key ${AZURE_OPENAI_API_KEY})",
        "MassGen",
    ),
    ("orchestrator.max_new_answers_per_agent", "orchestrator.max_answers_per_agent", "MassGen"),
    ("orchestrator.answer_novelty_requirement", "orchestrator.answer_novelty", "MassGen"),
    (
        "orchestrator.coordination.compression_target_ratio",
        "orchestrator.compression_target_ratio",
        "MassGen",
    ),
    ("timeout_settings.orchestrator_timeout_seconds", "orchestrator.timeout", "MassGen"),
    ("memory.persistent_memory.vector_store: qdrant", "(accepted: massmem's store is Qdrant)", "MassGen"),
    (
        "qdrant.mode: server without host/url (in a file using MassGen spellings)",
        "qdrant.host: localhost, qdrant.port: 6333",
        "MassGen",
    ),
    ("agents[].memory.retrieval.limit", "agents[].memory.retrieval_limit", "MassGen"),
    ("agents[].memory.retrieval.exclude_recent", "agents[].memory.exclude_recent", "MassGen"),
    ("agents[].memory.persistent_memory.enabled", "agents[].memory.persistent", "MassGen"),
    ("memory: [list of stores]", "memory_stores: [...]", "DevAll"),
    ("store type simple (no embedding) / simple (embedding)", "list / vector", "DevAll"),
    ("file store config.file_sources[0].path", "config.path", "DevAll"),
    ("file store config.file_sources[0].file_types", "config.suffixes", "DevAll"),
    ("file store config.file_sources[0].recursive", "config.recursive", "DevAll"),
    (
        "store config.index_path / memory_path",
        "(accepted, ignored: massmem keeps its own under MASSMEM_HOME)",
        "DevAll",
    ),
    ("memories[].retrieve_stage: [stages]", "memories[].retrieve_stage: every_call", "DevAll"),
    ("memories[].similarity_threshold: -1", "memories[].similarity_threshold: 0.0", "DevAll"),
)

#: the words every refusal of MassGen's local tools uses (tests and ``massmem migrate`` look for them)
NOT_RUN = "massmem does not run it"
_MIGRATE = "remove it; `massmem migrate` removes it for you"


class _Rewriter:
    """Rewrites one config's data in place, moving recorded lines along with each key."""

    def __init__(self, lines: LineMap) -> None:
        self.lines = lines
        self.issues: list[ConfigIssue] = []
        #: the file used a MassGen spelling, so MassGen's defaults apply where massmem has none
        self.massgen = False

    # -- line bookkeeping -------------------------------------------------------------------
    def move_lines(self, old: tuple[Part, ...], new: tuple[Part, ...]) -> None:
        """Re-key the line of ``old`` and of everything below it under ``new``."""
        old_path, new_path = format_path(old), format_path(new)
        for path in [
            p for p in self.lines if p == old_path or p.startswith((old_path + ".", old_path + "["))
        ]:
            self.lines.setdefault(new_path + path[len(old_path) :], self.lines[path])

    def move(self, owner: dict[str, Any], at: tuple[Part, ...], old: str, new: str) -> bool:
        """``owner[old]`` -> ``owner[new]`` unless ``new`` is already set (then the alias is an error)."""
        if old not in owner:
            return False
        if new in owner:
            self.issue(
                (*at, old),
                f"'{old}' and '{new}' are the same setting; keep only '{new}'",
                "remove one of them",
            )
            owner.pop(old)  # reported once, here; the schema would only call it unknown
            return False
        owner[new] = owner.pop(old)
        self.move_lines((*at, old), (*at, new))
        self.massgen = True
        return True

    def issue(self, parts: tuple[Part, ...], message: str, hint: str | None) -> None:
        self.issues.append(ConfigIssue(format_path(parts), message, line_for(parts, self.lines), hint))

    def refuse(self, parts: tuple[Part, ...], what: str, label: str | None = None) -> None:
        """One refused MassGen key, named (``label`` for a value, e.g. ``type: claude_code``) at its line."""
        name = label or str(parts[-1])
        self.issue(parts, f"'{name}' ({what}) is MassGen's local tool machinery; {NOT_RUN}", _MIGRATE)

    # -- the whole file ---------------------------------------------------------------------
    def team(self, data: dict[str, Any]) -> None:
        if "agent" in data and "agents" not in data and isinstance(data["agent"], dict):
            self.massgen = True
            data["agents"] = [data.pop("agent")]
            self.move_lines(("agent",), ("agents", 0))
            self.lines.setdefault("agents", self.lines.get("agents[0]", 1))
        self.ui(data)
        self.orchestrator(data)
        agents = data.get("agents")
        for index, agent in enumerate(agents if isinstance(agents, list) else []):
            if isinstance(agent, dict):
                self.agent(agent, ("agents", index))
        memory = data.get("memory")
        if isinstance(memory, list):
            self.devall_stores(data)
        elif isinstance(memory, dict):
            self.memory_settings(memory, ("memory",))

    def ui(self, data: dict[str, Any]) -> None:
        if "display" in data and "ui" not in data and isinstance(data["display"], dict):
            self.move(data, (), "display", "ui")
        ui = data.get("ui")
        if not isinstance(ui, dict):
            return
        for alias in ("display_type", "type"):
            if self.move(ui, ("ui",), alias, "display"):
                value = ui["display"]
                if isinstance(value, str) and value in DISPLAY_VALUES:
                    ui["display"] = DISPLAY_VALUES[value]
        if "logging_enabled" in ui:
            self.massgen = True
            # massmem always writes its logs (their folder is ui.log_dir); MassGen's switch has nothing to turn.
            if not isinstance(ui["logging_enabled"], bool):
                self.issue(("ui", "logging_enabled"), "should be true or false", None)
            ui.pop("logging_enabled")

    def orchestrator(self, data: dict[str, Any]) -> None:
        orch = data.get("orchestrator")
        timeouts = data.get("timeout_settings")
        if isinstance(timeouts, dict) and "orchestrator_timeout_seconds" in timeouts:
            if orch is None:
                orch = data["orchestrator"] = {}
                self.lines.setdefault("orchestrator", self.lines.get("timeout_settings", 1))
            if isinstance(orch, dict) and "timeout" not in orch:
                orch["timeout"] = timeouts.pop("orchestrator_timeout_seconds")
                self.move_lines(
                    ("timeout_settings", "orchestrator_timeout_seconds"), ("orchestrator", "timeout")
                )
                if not timeouts:
                    data.pop("timeout_settings")
        if not isinstance(orch, dict):
            return
        at: tuple[Part, ...] = ("orchestrator",)
        self.move(orch, at, "max_new_answers_per_agent", "max_answers_per_agent")
        self.move(orch, at, "answer_novelty_requirement", "answer_novelty")
        coordination = orch.get("coordination")
        if isinstance(coordination, dict) and "compression_target_ratio" in coordination:
            if "compression_target_ratio" not in orch:
                orch["compression_target_ratio"] = coordination.pop("compression_target_ratio")
                self.move_lines(
                    (*at, "coordination", "compression_target_ratio"), (*at, "compression_target_ratio")
                )
            if not coordination:
                orch.pop("coordination")
        for key, what in REFUSED_KEYS.items():
            if key in orch:
                self.refuse((*at, key), what)
                orch.pop(key)

    def memory_settings(self, memory: dict[str, Any], at: tuple[Part, ...]) -> None:
        persistent = memory.get("persistent_memory")
        if not isinstance(persistent, dict):
            return
        p_at = (*at, "persistent_memory")
        store = persistent.get("vector_store")
        if "vector_store" in persistent:
            self.massgen = True
            if store == "qdrant":
                persistent.pop("vector_store")
            else:
                self.issue(
                    (*p_at, "vector_store"),
                    f"vector store {store!r} is not available; massmem keeps persistent memory in Qdrant",
                    "use vector_store: qdrant, or remove the key",
                )
                persistent.pop("vector_store")
        if self.massgen:
            self.qdrant_default(persistent.get("qdrant"))

    @staticmethod
    def qdrant_default(qdrant: Any) -> None:
        """MassGen's ``mode: server`` with no address means the server on this machine (6333).

        Only in a file that speaks MassGen: in massmem's own configs a server with no address
        stays an error, as it always was.
        """
        server = isinstance(qdrant, dict) and qdrant.get("mode") == "server"
        if server and not qdrant.get("url") and not qdrant.get("host"):
            qdrant["host"] = "localhost"
            qdrant.setdefault("port", 6333)

    # -- agents and backends ----------------------------------------------------------------
    def agent(self, agent: dict[str, Any], at: tuple[Part, ...]) -> None:
        for key, what in REFUSED_KEYS.items():
            if key in agent:
                self.refuse((*at, key), what)
                agent.pop(key)
        kind = agent.get("type")
        if isinstance(kind, str) and kind in REFUSED_TYPES:
            self.refuse((*at, "type"), REFUSED_TYPES[kind], f"type: {kind}")
            agent.pop("type")
        backend = agent.get("backend")
        if isinstance(backend, dict):
            self.backend(backend, (*at, "backend"))
        memory = agent.get("memory")
        if isinstance(memory, dict):
            self.agent_memory(memory, (*at, "memory"))
        memories = agent.get("memories")
        for index, attachment in enumerate(memories if isinstance(memories, list) else []):
            if isinstance(attachment, dict):
                self.attachment(attachment, (*at, "memories", index))

    def backend(self, backend: dict[str, Any], at: tuple[Part, ...]) -> None:
        kind = backend.get("type")
        if isinstance(kind, str) and kind in REFUSED_TYPES:
            self.refuse((*at, "type"), REFUSED_TYPES[kind], f"type: {kind}")
            backend["type"] = "scripted"  # keep validating the rest of the file without a second error
        for key, what in REFUSED_KEYS.items():
            if key in backend:
                self.refuse((*at, key), what)
                backend.pop(key)
        if isinstance(kind, str) and kind in TYPE_ALIASES:
            self.massgen = True
            provider = TYPE_ALIASES[kind]
            backend["type"] = "chatcompletion"
            if provider is not None:
                backend.setdefault("provider", provider)
            else:
                # MassGen reads Azure's endpoint and key from these variables when the file names none.
                backend.setdefault("base_url", "${AZURE_OPENAI_ENDPOINT}")
                backend.setdefault("api_key", "${AZURE_OPENAI_API_KEY}")
        reasoning = backend.get("reasoning")
        if isinstance(reasoning, dict) and set(reasoning) <= {"effort", "summary"}:
            backend.pop("reasoning")
            for key in ("effort", "summary"):
                if key in reasoning:
                    if f"reasoning_{key}" in backend:
                        self.issue(
                            (*at, "reasoning", key),
                            f"'reasoning.{key}' and 'reasoning_{key}' are the same setting",
                            "keep only one",
                        )
                        continue
                    backend[f"reasoning_{key}"] = reasoning[key]
                    self.move_lines((*at, "reasoning", key), (*at, f"reasoning_{key}"))
        fallback = backend.get("fallback")
        for index, item in enumerate(fallback if isinstance(fallback, list) else []):
            if isinstance(item, dict):
                self.backend(item, (*at, "fallback", index))

    def agent_memory(self, memory: dict[str, Any], at: tuple[Part, ...]) -> None:
        """MassGen's per-agent ``memory:`` is the team's shape; massmem's overrides are flat."""
        retrieval = memory.get("retrieval")
        if isinstance(retrieval, dict) and set(retrieval) <= {"limit", "exclude_recent"}:
            memory.pop("retrieval")
            for old, new in (("limit", "retrieval_limit"), ("exclude_recent", "exclude_recent")):
                if old in retrieval and new not in memory:
                    memory[new] = retrieval[old]
                    self.move_lines((*at, "retrieval", old), (*at, new))
        persistent = memory.get("persistent_memory")
        if isinstance(persistent, dict) and set(persistent) <= {"enabled"}:
            memory.pop("persistent_memory")
            if "enabled" in persistent and "persistent" not in memory:
                memory["persistent"] = persistent["enabled"]
                self.move_lines((*at, "persistent_memory", "enabled"), (*at, "persistent"))

    def attachment(self, attachment: dict[str, Any], at: tuple[Part, ...]) -> None:
        """DevAll's attachment keys are massmem's; only two values are spelled differently."""
        stage = attachment.get("retrieve_stage")
        if isinstance(stage, list):
            # DevAll limits retrieval to graph stages; massmem's agents have one stage: every call.
            attachment["retrieve_stage"] = "every_call"
        threshold = attachment.get("similarity_threshold")
        if isinstance(threshold, int | float) and not isinstance(threshold, bool) and threshold < 0:
            attachment["similarity_threshold"] = 0.0  # DevAll's -1: no cut-off

    # -- DevAll's store list ----------------------------------------------------------------
    def devall_stores(self, data: dict[str, Any]) -> None:
        if "memory_stores" in data:
            self.issue(
                ("memory",),
                "a 'memory:' list (DevAll's stores) and 'memory_stores:' are the same setting",
                "keep only memory_stores",
            )
            return
        stores = data.pop("memory")
        self.move_lines(("memory",), ("memory_stores",))
        data["memory_stores"] = stores
        for index, store in enumerate(stores):
            if isinstance(store, dict):
                self.store(store, ("memory_stores", index))

    def store(self, store: dict[str, Any], at: tuple[Part, ...]) -> None:
        kind = store.get("type")
        config = store.get("config")
        c_at = (*at, "config")
        if not isinstance(kind, str) or kind not in STORE_TYPES:
            return
        if not isinstance(config, dict):
            config = {}
        for key in ("index_path", "memory_path"):
            config.pop(key, None)  # massmem keeps its indexes and boards under MASSMEM_HOME
        if kind == "simple":
            store["type"] = "vector" if "embedding" in config else "list"
        elif kind == "file":
            self.file_sources(config, c_at)
        elif kind == "mem0":
            for key in ("api_key", "agent_id", "user_id", "org_id", "project_id"):
                if key in config:
                    self.issue(
                        (*c_at, key),
                        f"'{key}' is for the hosted Mem0 platform; massmem's mem0 store runs mem0 locally with Qdrant",
                        "remove it; set embedding and qdrant under config instead",
                    )
                    config.pop(key)
        if config or "config" in store:
            store["config"] = config

    def file_sources(self, config: dict[str, Any], at: tuple[Part, ...]) -> None:
        sources = config.get("file_sources")
        if not isinstance(sources, list):
            return
        if len(sources) != 1 or not isinstance(sources[0], dict):
            self.issue(
                (*at, "file_sources"),
                f"massmem's file store indexes one folder; this has {len(sources)} file_sources",
                "declare one 'file' store per folder and attach each",
            )
            config.pop("file_sources")
            return
        source = sources[0]
        config.pop("file_sources")
        s_at = (*at, "file_sources", 0)
        for old, new in (("path", "path"), ("file_types", "suffixes"), ("recursive", "recursive")):
            if old in source and new not in config:
                config[new] = source.pop(old)
                self.move_lines((*s_at, old), (*at, new))
        for key in source:
            self.issue(
                (*s_at, key),
                f"unknown key '{key}' in a file source",
                "file sources take: path, file_types, recursive",
            )


def normalise(data: Any, lines: LineMap) -> list[ConfigIssue]:
    """Rewrite MassGen/DevAll spellings in ``data`` into massmem's, in place; lines follow each key.

    Returns the issues found on the way: MassGen's local tool machinery refused by name, and
    aliases that clash with the canonical key they stand for.
    """
    if not isinstance(data, dict):
        return []
    rewriter = _Rewriter(lines)
    rewriter.team(data)
    return rewriter.issues
