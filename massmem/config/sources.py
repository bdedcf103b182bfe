"""Where a team file comes from: a path, or ``@examples/NAME`` shipped in the package, read safely.

Every way reading can fail (missing, a directory, not UTF-8, too large, unreadable) becomes a
:class:`~massmem.errors.ConfigError` naming the file, never a traceback; at most
:data:`~massmem.config.limits.MAX_CONFIG_BYTES` are read, so a wrong path cannot fill memory.
"""

from __future__ import annotations

import re
from pathlib import Path

from massmem.config.limits import MAX_CONFIG_BYTES
from massmem.config.wording import did_you_mean
from massmem.errors import ConfigError, ConfigIssue

__all__ = ["EXAMPLES_PREFIX", "example_names", "is_example", "locate", "read_text", "resolve_example"]

#: ``@examples/NAME`` names a config shipped inside the package.
EXAMPLES_PREFIX = "@examples/"

_SAFE_EXAMPLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def example_names() -> list[str]:
    """Names of the configs shipped in ``massmem/examples``, for ``@examples/NAME`` and listings."""
    from importlib import resources  # only needed for @examples; keeps plain loads lighter

    folder = resources.files("massmem").joinpath("examples")
    try:
        return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def resolve_example(name: str) -> Path:
    """The file behind ``@examples/NAME`` (``.yaml`` optional); a ConfigError with a did-you-mean if unknown."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    names = example_names()
    if _SAFE_EXAMPLE.fullmatch(stem) and stem in names:
        from importlib import resources

        return Path(str(resources.files("massmem").joinpath("examples", f"{stem}.yaml")))
    hint = did_you_mean(stem, names) or ""
    hint = f"{hint} " if hint else ""
    hint += f"available examples: {', '.join(names) or '(none installed)'}"
    issue = ConfigIssue("", f"there is no bundled example named {stem!r}", None, hint)
    raise ConfigError([issue], f"{EXAMPLES_PREFIX}{name}")


def is_example(source: str | Path) -> bool:
    """Whether the user named a bundled example (no .env beside it is read)."""
    return isinstance(source, str) and source.startswith(EXAMPLES_PREFIX)


def locate(source: str | Path) -> tuple[Path, str]:
    """Map the user's argument to a file and the name used in messages."""
    if is_example(source):
        name = str(source)[len(EXAMPLES_PREFIX) :]
        return resolve_example(name), str(source)
    return Path(source).expanduser(), str(source)


def read_text(path: Path, source_name: str) -> str:
    """Read the file, turning every OS-level failure into a ConfigError rather than a traceback.

    At most :data:`MAX_CONFIG_BYTES` (plus one, to notice more) are read: ``-c /dev/zero`` or a
    wrong multi-gigabyte path must fail at once, not fill memory.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            issue = ConfigIssue(
                "",
                f"the config is larger than {MAX_CONFIG_BYTES:,} bytes (the limit for a team file)",
                None,
                "a team file is a few kilobytes; check that -c names the right file",
            )
            raise ConfigError([issue], source_name)
        return raw.decode("utf-8-sig")
    except FileNotFoundError:
        issue = ConfigIssue("", f"config file not found: {source_name}", None, _missing_file_hint(path))
    except IsADirectoryError:
        issue = ConfigIssue("", f"{source_name} is a directory, not a config file", None, None)
    except UnicodeDecodeError:
        issue = ConfigIssue("", "the file is not UTF-8 text", None, "save it as UTF-8")
    except OSError as exc:
        issue = ConfigIssue("", f"cannot read the file: {exc.strerror or exc}", None, None)
    raise ConfigError([issue], source_name)


def _missing_file_hint(path: Path) -> str:
    """Point people who typed an example's name as a path to the ``@examples/`` form."""
    names = example_names()
    stem = path.stem
    if stem in names:
        return f"a bundled example has that name: use {EXAMPLES_PREFIX}{stem}"
    return f"check the path; bundled examples are used as {EXAMPLES_PREFIX}NAME ({', '.join(names)})"
