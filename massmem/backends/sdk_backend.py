"""The shell every SDK backend shares: its key, its lazy client, its exception boundary.

Claude, Gemini, OpenAI Responses and Chat Completions talk to different wire
protocols through different official SDKs, but around the protocol they are
the same backend, so that part is written once here:

* **The key.** Taken from the config, else from the provider's environment
  variables, and the environment's key only for the provider's own endpoint
  (:func:`resolve_key`): a custom ``base_url`` never receives it.  The key is
  registered with :func:`massmem.errors.register_secret` so no error message
  can carry it, and a missing key fails on the first call, before any request
  (:meth:`SdkBackend._missing_key`), so a fallback never used needs none.
* **The client.** Made on first use (:meth:`SdkBackend._new_client`), so
  configuring a backend imports no SDK, and closed by :meth:`aclose`.  The
  SDK's own retries stay off (:data:`SDK_RETRIES`): retrying belongs to
  :mod:`massmem.backends.retry`, which knows not to repeat streamed text.
* **The boundary.** :meth:`SdkBackend.stream` runs the protocol's
  :meth:`~SdkBackend._events` and hands every exception to
  :meth:`~SdkBackend.translate`, which maps it to :mod:`massmem.errors` with the
  status table of :mod:`massmem.backends.faults`; nothing above ``backends/``
  sees an SDK exception.
"""

from __future__ import annotations

import abc
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from massmem.backends.base import Backend, Capabilities, ModelRequest
from massmem.errors import AuthenticationFailed, BackendError, register_secret
from massmem.messages import StreamEvent

__all__ = ["SDK_RETRIES", "SdkBackend", "is_official", "resolve_key"]

#: ``max_retries`` for every SDK client: the retry wrapper backend owns retrying.
SDK_RETRIES = 0

ClientT = TypeVar("ClientT")


def is_official(base_url: str | None, default_base_url: str) -> bool:
    return base_url is None or base_url.rstrip("/") == default_base_url.rstrip("/")


def resolve_key(config: Any, env_names: Sequence[str], default_base_url: str) -> str | None:
    """The key from the config, else from the provider's variables — only for its own endpoint.

    The environment's key is never sent to a custom ``base_url``: that would hand it to
    whatever host the URL names.  Such a backend names its key in the config
    (``api_key: ${SOME_VAR}``).
    """
    if config.api_key is not None:
        value = config.api_key.get_secret_value().strip()
        if value:
            return str(value)
    if not is_official(config.base_url, default_base_url):
        return None
    for name in env_names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class SdkBackend(Backend, Generic[ClientT]):
    """A backend over one official SDK client: key check, lazy client, translated exceptions.

    Subclasses name their provider (:attr:`LABEL`, :attr:`KEY_ENVS`,
    :attr:`DEFAULT_BASE_URL`), build the client (:meth:`_new_client`), stream
    one request (:meth:`_events`) and translate exceptions (:meth:`translate`).
    """

    #: the provider's name in messages ("Claude", "OpenAI")
    LABEL: ClassVar[str] = "SDK"
    #: environment variables that may hold the key, the preferred one first
    KEY_ENVS: ClassVar[tuple[str, ...]] = ()
    #: the provider's own endpoint: the only one the environment's key is sent to
    DEFAULT_BASE_URL: ClassVar[str] = ""

    def __init__(
        self,
        *,
        model: str,
        capabilities: Capabilities,
        api_key: str | None,
        base_url: str,
        timeout: float,
        agent_id: str | None,
    ) -> None:
        super().__init__(model=model, capabilities=capabilities)
        register_secret(api_key)
        self._api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.agent_id = agent_id
        self._client: ClientT | None = None

    # -- the client ----------------------------------------------------------------------------
    def _sdk_client(self) -> ClientT:
        """The SDK client, made on first use; a missing key fails here, before any request."""
        if self._client is None:
            missing = self._missing_key()
            if missing is not None:
                raise missing
            self._client = self._new_client()
        return self._client

    def _missing_key(self) -> AuthenticationFailed | None:
        """The error for a call without a key (None when there is one), saying what to set."""
        if self._api_key is not None:
            return None
        first, *others = self.KEY_ENVS
        names = f"{first} (or {', '.join(others)})" if others else first
        where = f"set {names} or api_key in the backend config"
        if not is_official(self.base_url, self.DEFAULT_BASE_URL):
            where = f"set api_key in the backend config ({first} is only sent to {self.DEFAULT_BASE_URL})"
        return AuthenticationFailed(
            f"no API key for the {self.LABEL} backend ({self.model}): {where}",
            provider=self.type_name,
            agent_id=self.agent_id,
        )

    @abc.abstractmethod
    def _new_client(self) -> ClientT:
        """A new SDK client for :attr:`base_url` with :data:`SDK_RETRIES` and :attr:`timeout`."""

    async def _close_client(self, client: ClientT) -> None:
        await client.close()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._close_client(client)

    # -- the boundary --------------------------------------------------------------------------
    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        client = self._sdk_client()
        try:
            async with contextlib.aclosing(self._events(client, request)) as events:
                async for event in events:
                    yield event
        except Exception as exc:
            raise self.translate(exc) from None

    @abc.abstractmethod
    def _events(self, client: ClientT, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """One call's events, straight from the protocol; exceptions may be the SDK's own."""

    @abc.abstractmethod
    def translate(self, exc: BaseException) -> BackendError:
        """``exc`` as a :mod:`massmem.errors` exception (a massmem error passes through)."""
