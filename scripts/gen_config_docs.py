"""Write docs/configuration.md from the config schema, so the reference never drifts.

python scripts/gen_config_docs.py            # rewrite the file
python scripts/gen_config_docs.py --check    # exit 1 if it is out of date (used by the tests)
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from massmem.config import dialects, schema
from massmem.config.limits import MAX_AGENTS, MAX_CONFIG_BYTES, MAX_DEPTH, MAX_NUMBER_CHARS, MAX_STRING_CHARS
from massmem.team.session import MAX_QUESTION_CHARS

OUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

INTRO = (
    """# Configuration reference

A team file is YAML. `massmem validate FILE` checks it and reports every problem with its dotted path
(`agents[1].backend.model`), its line and, for typos, a suggestion. Unknown keys are errors, never ignored.

- `${VAR}` and `${VAR:-default}` are replaced from the environment or a `.env` file beside the config
  (the real environment wins); `$${` writes a literal `${`.
- `@examples/NAME` names a team shipped with massmem (see `configs/`).
- Ids (agents, sessions) are 1–64 letters, digits, `_`, `.` or `-`, starting with a letter or digit.
"""
    + (
        "- Limits, each refused with its location: a file of at most "
        f"{MAX_CONFIG_BYTES:,} bytes, {MAX_AGENTS} agents,\n  text values of {MAX_STRING_CHARS:,} characters, "
        f"numbers of {MAX_NUMBER_CHARS} characters, nesting {MAX_DEPTH} levels deep.\n"
        f"  A question may have {MAX_QUESTION_CHARS:,} characters.\n"
    )
    + """
This page is generated from the schema by `scripts/gen_config_docs.py`.
"""
)


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args if a is not type(None)) + (
            " \\| null" if type(None) in args else ""
        )
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        return {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "SecretStr": "secret string",
        }.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(field: typing.Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{value!r}`"
    return f"`{field.default!r}`".replace("`None`", "`null`")


def _table(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"## {model.__name__}", ""]
    if doc and not doc.startswith("!!!"):
        lines += [doc, ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |")
    return "\n".join(lines) + "\n"


MODELS: list[type[BaseModel]] = [
    schema.TeamConfig,
    schema.AgentConfig,
    schema.AgentMemoryOverrides,
    schema.MemoryAttachment,
    schema.ChatCompletionBackendConfig,
    schema.OpenAIBackendConfig,
    schema.ClaudeBackendConfig,
    schema.GeminiBackendConfig,
    schema.LocalBackendConfig,
    schema.ScriptedBackendConfig,
    schema.ScriptedReply,
    schema.ScriptedShare,
    schema.OrchestratorConfig,
    schema.SharedEntriesConfig,
    schema.MemoryConfig,
    schema.ConversationMemoryConfig,
    schema.PersistentMemoryConfig,
    schema.ExtractionLLMConfig,
    schema.EmbeddingConfig,
    schema.QdrantConfig,
    schema.SharedMemoryConfig,
    schema.CompressionConfig,
    schema.RetrievalConfig,
    schema.RecordingConfig,
    schema.ListStoreConfig,
    schema.ListStoreOptions,
    schema.BlackboardStoreConfig,
    schema.BlackboardStoreOptions,
    schema.FileStoreConfig,
    schema.FileStoreOptions,
    schema.VectorStoreConfig,
    schema.VectorStoreOptions,
    schema.ChromaStoreConfig,
    schema.ChromaStoreOptions,
    schema.Mem0StoreConfig,
    schema.Mem0StoreOptions,
    schema.UIConfig,
]


def _dialects() -> str:
    """Every alias the loader accepts and every MassGen key it refuses, from ``config/dialects.py``.

    Generated so the list a MassGen or DevAll user reads is the list the loader applies.
    """
    out = [
        "## MassGen and DevAll spellings",
        "",
        "MassGen's and DevAll's own YAML is accepted where massmem has the feature: before validation each",
        "alias below is rewritten to massmem's key (errors still point at your line). massmem's own output",
        "(sessions, `--json`, logs) always uses the canonical key. Giving an alias and its canonical key",
        "together is an error. A `memory:` that is a list is DevAll's store list; a mapping is MassGen's",
        "(and massmem's) memory settings. An agent's `memory:` is merged over the team's: unset keys inherit.",
        "",
        "| you may write | massmem's key | from |",
        "|---|---|---|",
    ]
    out += [f"| `{alias}` | {canonical} | {origin} |" for alias, canonical, origin in dialects.ALIASES]
    out += [
        "",
        "MassGen's local tool machinery is refused by name (exit 2, each key at its line): massmem does not",
        "run it, and `massmem migrate` removes it (below). Refused keys, wherever they appear on an",
        "agent, its backend or the orchestrator:",
        "",
    ]
    out += [f"- `{key}` ({what})" for key, what in dialects.REFUSED_KEYS.items()]
    out += [f"- `type: {kind}` ({what})" for kind, what in dialects.REFUSED_TYPES.items()]
    return "\n".join(out) + "\n" + MIGRATE


MIGRATE = """
## Migrating a MassGen or DevAll config

`massmem migrate FILE [-o OUT] [--force]` writes FILE as a massmem config: canonical keys, the
refused machinery above removed, Claude Code and AG2 agents removed, and settings for features
massmem lacks dropped (`text.verbosity`, `upload_files`, `top_p`, `extra_body`, `betas`, the
`enable_*_generation` switches, `command_line_*`, `voting_sensitivity`, ...). It prints every
dropped key and every change on standard error as `FILE:LINE: path: dropped|changed: why`, with
the line in FILE, and puts the same notes as comments in the output. Memory settings keep their
values; `${VAR}` references are written back as `${VAR}`, never resolved.

- The output always validates: the migration runs massmem's own validation on the text before
  writing it. An unknown key that looks like a typo (`modle`), an unknown key under `memory`, or
  a bad value is not dropped: the file is refused (exit 2) with those errors, nothing written.
- Exit 0 when at least one agent remains, 2 when none does or the file is refused.
- Without `-o` the YAML goes to standard output and the report to standard error. `-o OUT` writes a
  temporary file and renames it into place (never a partial file); an existing OUT is refused
  unless `--force`.
"""


def render() -> str:
    return INTRO + "\n" + "\n".join(_table(m) for m in MODELS) + "\n" + _dialects()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    ns = parser.parse_args()
    text = render()
    if ns.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
