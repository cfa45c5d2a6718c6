"""Requests to the local-mode supervisor over IPC (ctx.state's and ctx.publish's), matched to their
replies by id (runtime-node's supervisor-requests.ts). A reply that does not come within the
timeout, or a channel that is gone, fails the request; a late reply is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .supervisor_channel import SupervisorChannel


class SupervisorRequests:
    """Runs on the event loop's thread. `is_reply` tells its replies (well formed, with an int id)
    from every other message; anything else is left alone."""

    def __init__(self, channel: SupervisorChannel, timeout_ms: int, is_reply: Callable[[Any], bool]) -> None:
        self._channel = channel
        self._timeout_ms = timeout_ms
        self._is_reply = is_reply
        self._pending: dict[int, tuple[asyncio.Future[Any], asyncio.TimerHandle]] = {}
        self._next_id = 1
        channel.on_message(self._received)

    def send(
        self, message: dict[str, Any], failure: Callable[[str], Exception], no_channel: str
    ) -> asyncio.Future[dict[str, Any]]:
        """Sends `message` under a fresh id; the future is the reply, or `failure(why)`: no answer in
        time, or no channel (`why` is then `no_channel`)."""
        loop = asyncio.get_running_loop()
        call_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = loop.create_future()
        timeout = failure(f'the local supervisor did not answer within {self._timeout_ms} ms')
        timer = loop.call_later(self._timeout_ms / 1000, self.settle, call_id, timeout)
        self._pending[call_id] = (future, timer)
        if not self._channel.send({**message, 'id': call_id}):
            self.settle(call_id, failure(no_channel))
        return future

    def fail_all(self, error: Callable[[], Exception]) -> None:
        """Fails the requests still waiting: the process is going away."""
        for call_id in list(self._pending):
            self.settle(call_id, error())

    def settle(self, call_id: int, error: Exception | None, reply: Any = None) -> None:
        entry = self._pending.pop(call_id, None)
        if entry is None:
            return
        future, timer = entry
        timer.cancel()
        if future.done():
            return
        if error is None:
            future.set_result(reply)
        else:
            future.set_exception(error)

    def _received(self, message: Any) -> None:
        if self._is_reply(message) and message['id'] in self._pending:
            self.settle(message['id'], None, message)
