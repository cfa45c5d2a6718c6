"""ctx.publish (runtime-node's invoke/event-publisher.ts and events/): a CloudEvent on a subject,
for every function with a trigger on it, through the gateway's events endpoint (a cluster: the pod
holds no NATS credentials, the gateway says who published) or the local-mode supervisor. Resolves
with the event's id; raises a PublishError naming why not."""

from __future__ import annotations

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
        from ..supervisor_requests import SupervisorRequests

        self._requests = SupervisorRequests(channel, timeout_ms, _is_publish_reply)

    async def publish(self, subject: Any, data: Any, content_type: str | None, event_type: str | None) -> str:
        request = publish_request(subject, data, content_type, event_type)
        reply = await self._requests.send(
            {'type': 'publish', 'event': request},
            lambda why: _unavailable(subject, why),
            'no supervisor channel (NIMBUS_EVENTS_BACKEND=supervisor works only in a runtime started by local mode)',
        )
        if reply['ok']:
            return reply['result']['id']
        error = reply['error']
        raise PublishError(error['name'], error['message'], error['status'], error['code'])

    def close(self) -> None:
        self._requests.fail_all(lambda: PublishError('PublishUnavailableError', 'ctx.publish: the runtime is shutting down'))


def _is_publish_reply(message: Any) -> bool:
    if not isinstance(message, dict) or message.get('type') != 'publish-result':
        return False
    call_id = message.get('id')
    if not isinstance(call_id, int) or isinstance(call_id, bool):
        return False
    if message.get('ok') is True:
        result = message.get('result')
        return isinstance(result, dict) and isinstance(result.get('id'), str)
    error = message.get('error')
    return (
        message.get('ok') is False
        and isinstance(error, dict)
        and all(isinstance(error.get(name), str) for name in ('name', 'message', 'code'))
        and isinstance(error.get('status'), int)
    )


def _unavailable(subject: Any, why: str) -> PublishError:
    return PublishError('PublishUnavailableError', f'ctx.publish {subject}: {why}')


def create_publisher(settings: PublishSettings, namespace: str, fn: str, supervisor: SupervisorChannel) -> Any:
    """ctx.publish for the backend the settings name; nothing is sent before the first call."""
    if settings.backend == 'service':
        return ServicePublisher(settings, namespace, fn)
    if settings.backend == 'supervisor':
        return SupervisorPublisher(supervisor, settings.timeout_ms)
    return UnconfiguredPublisher()
