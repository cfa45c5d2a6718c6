"""ctx.publish (runtime-node's invoke/event-publisher.ts and events/): a CloudEvent on a subject,
for every function with a trigger on it, through the gateway's events endpoint (a cluster: the pod
holds no NATS credentials, the gateway says who published) or the local-mode supervisor. Resolves
with the event's id; raises a PublishError naming why not."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from ..supervisor_channel import SupervisorChannel
from .publish_config import PublishSettings


class PublishError(RuntimeError):
    """What ctx.publish raises. `name` says which (PublisherNotConfiguredError, PublishRefusedError,
    PublishUnavailableError), `status` and `code` are the gateway's answer (0 when none came)."""

    def __init__(self, name: str, message: str, status: int = 0, code: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.status = status
        self.code = code or name


def not_configured() -> PublishError:
    return PublishError(
        'PublisherNotConfiguredError',
        'ctx.publish is not configured for this runtime: it needs NIMBUS_EVENTS_URL and a function token'
        ' (a cluster) or a local-mode supervisor',
    )


def publish_request(subject: Any, data: Any, content_type: str | None, event_type: str | None) -> dict[str, Any]:
    """The body the gateway (or the supervisor) takes; bytes go as base64."""
    if not isinstance(subject, str) or subject == '':
        raise PublishError('PublishRefusedError', 'ctx.publish: subject must be a non-empty string', 400, 'InvalidSubject')
    request: dict[str, Any] = {'subject': subject}
    if isinstance(data, (bytes, bytearray, memoryview)):
        request['dataBase64'] = base64.b64encode(bytes(data)).decode('ascii')
    else:
        request['data'] = data
    if content_type is not None:
        request['contentType'] = content_type
    if event_type is not None:
        request['type'] = event_type
    return request


class UnconfiguredPublisher:
    async def publish(self, subject: Any, data: Any, content_type: str | None, event_type: str | None) -> str:
        raise not_configured()

    def close(self) -> None:
        pass


class ServicePublisher:
    """One POST to `/v1/events/publish` on the gateway's internal port, on the state client's
    connections (state/service_state.py), with the function's token."""

    def __init__(self, settings: PublishSettings, namespace: str, fn: str) -> None:
        from ..state.service_state import ServiceStatePort
        from ..state.state_config import StateSettings

        port_settings = StateSettings(
            backend='service',
            timeout_ms=settings.timeout_ms,
            max_value_bytes=0,
            url=settings.url,
            token=settings.token,
            token_file=settings.token_file,
        )
        self._port = ServiceStatePort(port_settings, namespace, fn)

    async def publish(self, subject: Any, data: Any, content_type: str | None, event_type: str | None) -> str:
        from ..state.state_errors import StateUnavailableError

        body = publish_request(subject, data, content_type, event_type)
        try:
            status, answer = await self._port.post('/v1/events/publish', body, f'ctx.publish {subject}', 'the gateway')
        except StateUnavailableError as error:
            raise PublishError('PublishUnavailableError', str(error)) from error
        event_id = answer.get('id')
        if status == 202 and isinstance(event_id, str):
            return event_id
        reason, code = answer.get('error'), answer.get('code')
        raise PublishError(
            'PublishUnavailableError' if status >= 500 else 'PublishRefusedError',
            f'ctx.publish {subject}: {reason if isinstance(reason, str) else f"the gateway answered {status}"}',
            status,
            code if isinstance(code, str) else 'PublishRefused',
        )

    def close(self) -> None:
        self._port.close()


class SupervisorPublisher:
    """A `publish` request to the supervisor over IPC, answered with a `publish-result`; no answer
    within the timeout (or no channel) fails it as unavailable."""

    def __init__(self, channel: SupervisorChannel, timeout_ms: int) -> None:
        self._channel = channel
        self._timeout_ms = timeout_ms
        self._pending: dict[int, tuple[asyncio.Future[str], asyncio.TimerHandle]] = {}
        self._next_id = 1
        channel.on_message(self._received)

    def publish(self, subject: Any, data: Any, content_type: str | None, event_type: str | None) -> asyncio.Future[str]:
        request = publish_request(subject, data, content_type, event_type)
        loop = asyncio.get_running_loop()
        call_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[str] = loop.create_future()
        timeout = _unavailable(subject, f'the local supervisor did not answer within {self._timeout_ms} ms')
        timer = loop.call_later(self._timeout_ms / 1000, self._settle, call_id, timeout)
        self._pending[call_id] = (future, timer)
        if not self._channel.send({'type': 'publish', 'id': call_id, 'event': request}):
            why = 'no supervisor channel (NIMBUS_EVENTS_BACKEND=supervisor works only in a runtime started by local mode)'
            self._settle(call_id, _unavailable(subject, why))
        return future

    def close(self) -> None:
        for call_id in list(self._pending):
            self._settle(call_id, PublishError('PublishUnavailableError', 'ctx.publish: the runtime is shutting down'))

    def _received(self, message: Any) -> None:
        if not isinstance(message, dict) or message.get('type') != 'publish-result':
            return
        call_id = message.get('id')
        if not isinstance(call_id, int) or call_id not in self._pending:
            return
        result, error = message.get('result'), message.get('error')
        if message.get('ok') is True and isinstance(result, dict) and isinstance(result.get('id'), str):
            self._settle(call_id, None, result['id'])
        elif isinstance(error, dict):
            status = error.get('status')
            self._settle(
                call_id,
                PublishError(
                    str(error.get('name', 'PublishRefusedError')),
                    str(error.get('message', 'refused')),
                    status if isinstance(status, int) else 0,
                    str(error.get('code', 'PublishRefused')),
                ),
            )

    def _settle(self, call_id: int, error: PublishError | None, result: str = '') -> None:
        entry = self._pending.pop(call_id, None)
        if entry is None:
            return
        future, timer = entry
        timer.cancel()
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _unavailable(subject: Any, why: str) -> PublishError:
    return PublishError('PublishUnavailableError', f'ctx.publish {subject}: {why}')


def create_publisher(settings: PublishSettings, namespace: str, fn: str, supervisor: SupervisorChannel) -> Any:
    """ctx.publish for the backend the settings name; nothing is sent before the first call."""
    if settings.backend == 'service':
        return ServicePublisher(settings, namespace, fn)
    if settings.backend == 'supervisor':
        return SupervisorPublisher(supervisor, settings.timeout_ms)
    return UnconfiguredPublisher()
