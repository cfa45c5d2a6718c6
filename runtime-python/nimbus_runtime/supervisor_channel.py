"""The IPC channel to the local-mode supervisor, spoken as a Node child speaks it: the supervisor
spawns `python3 run.py` with an 'ipc' stdio entry, Node hands the socket's descriptor over in
NODE_CHANNEL_FD, and each message is one JSON object on a line of its own (Node's default 'json'
serialization). The messages are runtime-node's (supervisor-channel.ts): `listening`, `ready`,
`load-failed` and `state` out; `state-result` in."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable, MutableMapping
from typing import Any

Listener = Callable[[Any], None]

# A line longer than this is not a message the supervisor sends; it costs the channel, not memory.
_MAX_LINE_BYTES = 64 * 1024 * 1024


class SupervisorChannel:
    """Best effort both ways: `send` never raises, and reports False when there is no channel."""

    def __init__(self) -> None:
        self._transport: asyncio.BaseTransport | None = None
        self._listeners: list[Listener] = []
        self._on_disconnect: list[Callable[[], None]] = []

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send(self, message: dict[str, Any]) -> bool:
        """Must be called on the event loop's thread."""
        if not self.connected:
            return False
        assert isinstance(self._transport, asyncio.WriteTransport)
        self._transport.write(json.dumps(message, separators=(',', ':')).encode('utf-8') + b'\n')
        return True

    def on_message(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_disconnect(self, listener: Callable[[], None]) -> None:
        self._on_disconnect.append(listener)

    def attach(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def received(self, message: Any) -> None:
        for listener in list(self._listeners):
            listener(message)

    def lost(self) -> None:
        was_open = self._transport is not None
        self._transport = None
        if was_open:
            for listener in list(self._on_disconnect):
                listener()


class _ChannelProtocol(asyncio.Protocol):
    def __init__(self, channel: SupervisorChannel) -> None:
        self._channel = channel
        self._pending = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._channel.attach(transport)

    def data_received(self, data: bytes) -> None:
        self._pending += data
        while True:
            end = self._pending.find(b'\n')
            if end == -1:
                if len(self._pending) > _MAX_LINE_BYTES:
                    self._pending.clear()
                return
            line = bytes(self._pending[:end])
            del self._pending[: end + 1]
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self._channel.received(message)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._channel.lost()


async def open_supervisor_channel(environ: MutableMapping[str, str]) -> SupervisorChannel:
    """The channel Node handed over, or one that is never connected when there is none. The
    variables are taken out of the environment, as Node does, so programs the handler starts do not
    think they have a channel; the descriptor is not inherited by them either."""
    channel = SupervisorChannel()
    raw = environ.pop('NODE_CHANNEL_FD', None)
    mode = environ.pop('NODE_CHANNEL_SERIALIZATION_MODE', 'json')
    if raw is None or not raw.strip().isdigit():
        return channel
    if mode != 'json':
        raise ValueError(
            f"NODE_CHANNEL_SERIALIZATION_MODE is {mode!r}; the Python runtime speaks only 'json'"
        )
    fd = int(raw)
    os.set_inheritable(fd, False)
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.create_unix_connection(lambda: _ChannelProtocol(channel), sock=sock)
    return channel
