"""ctx.state in a cluster (runtime-node's state/service-state.ts): each call is one POST to the
gateway's state service, `${url}/v1/state/${op}` with the function's name and token, on kept-alive
connections, so a call costs one round trip. The value is checked here too (plain JSON, and its
size), so a value the service would refuse is not uploaded; the service checks again and is the one
that counts.

The client is a small HTTP/1.1 one over asyncio streams, on the event loop where the rest of the
runtime lives, so timeouts and the shutdown's cancellation are the loop's. Measured on loopback,
an async handler's call costs ~165 µs this way against ~250 µs for http.client on a handler thread
(a thread hop each way), which also costs 20 ms of imports. A sync handler's call hops onto the
loop, as for the supervisor backend (~240 µs; http.client on its own thread would be ~180 µs, at
the price of a second client with its own pool, timeouts and shutdown)."""

from __future__ import annotations

import asyncio
import errno
import json
import re
from typing import Any

from .state_config import StateSettings
from .state_errors import StateError, StateUnavailableError, to_state_error
from .state_value import check_state_value

# Idle connections go after 30 s, well before the service's 65 s: reusing one it just closed would
# fail a call.
_IDLE_SECONDS = 30.0
# Idle connections kept after a burst of calls (node:http's Agent keeps as many).
_MAX_IDLE = 256
# An answer holds one value (the service's limit, which may exceed this replica's) and a version.
_MAX_ANSWER_BYTES = 64 * 1024 * 1024
_HEADER_VALUE = re.compile(r'[\t\x20-\x7e]*\Z')
_SHUTTING_DOWN = 'the runtime is shutting down'


class _Connection:
    __slots__ = ('reader', 'writer', 'idle_since', 'closed_because')

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        #: Why it was torn down under a call, when that was on purpose.
        self.closed_because: str | None = None

    @property
    def reusable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def abort(self, reason: str | None = None) -> None:
        self.closed_because = self.closed_because or reason
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class ServiceStatePort:
    """Runs on the event loop's thread; the sync face of ctx.state hops onto it."""

    def __init__(self, settings: StateSettings, namespace: str, fn: str) -> None:
        assert settings.url is not None
        self._settings = settings
        self._timeout_seconds = settings.timeout_ms / 1000
        scheme, _, authority = settings.url.partition('://')
        self._https = scheme == 'https'
        self._host, self._port = _host_and_port(authority, 443 if self._https else 80)
        self._request_head = (
            f'Host: {authority}\r\nx-nimbus-function: {namespace}/{fn}\r\n'
            'content-type: application/json\r\nConnection: keep-alive\r\n'
        )
        self._identity_ok = bool(_HEADER_VALUE.match(f'{namespace}/{fn}'))
        self._token = settings.token
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._ssl: Any = None

    async def get(self, key: Any) -> dict[str, Any] | None:
        return await self._call('get', {'key': key})

    async def set(self, key: Any, value: Any, ttl_ms: int | None) -> str:
        check_state_value(key, value, self._settings.max_value_bytes)
        return await self._call('set', _with_ttl({'key': key, 'value': value}, ttl_ms))

    async def delete(self, key: Any) -> bool:
        return await self._call('delete', {'key': key})

    async def incr(self, key: Any, by: Any) -> int:
        return await self._call('incr', {'key': key, 'by': by})

    async def compare_and_set(
        self, key: Any, expected_version: Any, value: Any, ttl_ms: int | None
    ) -> dict[str, Any]:
        check_state_value(key, value, self._settings.max_value_bytes)
        body = {'key': key, 'expectedVersion': expected_version, 'value': value}
        return await self._call('compareAndSet', _with_ttl(body, ttl_ms))

    def close(self) -> None:
        """Fails the calls still waiting (the process is going away) and lets go of idle
        connections; a later call opens new ones."""
        for connection in [*self._busy, *self._idle]:
            connection.abort(_SHUTTING_DOWN)
        self._idle.clear()

    async def _call(self, op: str, body: dict[str, Any]) -> Any:
        status, answer = await self.post(f'/v1/state/{op}', body, f'state {op}', 'the state service')
        if 200 <= status < 300:
            return answer.get('result')
        raise _remote_error(status, answer)

    async def post(self, path: str, body: dict[str, Any], what: str, service: str) -> tuple[int, dict[str, Any]]:
        """One JSON POST to the gateway's internal port, with the function's name and token: the
        answer's status and JSON object. StateUnavailableError when there is no answer, or no JSON
        (`what` and `service` name the call and the other side in its message)."""
        token = self._read_token()
        # The JSON text is made before the request: a key that is not JSON fails here, as it does
        # on the way to the supervisor.
        payload = json.dumps(body, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
        timeout = asyncio.timeout(self._timeout_seconds)
        try:
            unsafe = 'authorization' if not _HEADER_VALUE.match(token) else None
            unsafe = 'x-nimbus-function' if not self._identity_ok else unsafe
            if unsafe is not None:
                # As node:http refuses it: a header value must not end the header early.
                raise ValueError(f'Invalid character in header content ["{unsafe}"]')
            head = (
                f'POST {path} HTTP/1.1\r\nauthorization: Bearer {token}\r\n{self._request_head}'
                f'content-length: {len(payload)}\r\n\r\n'
            )
            async with timeout:
                status, text = await self._exchange(head.encode('latin-1') + payload)
        except (OSError, EOFError, ValueError, asyncio.LimitOverrunError) as error:
            why = f'no answer within {self._settings.timeout_ms} ms' if timeout.expired() else _why(error)
            raise StateUnavailableError(f'{what}: {service} is unavailable ({why})') from error
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise StateUnavailableError(f'{what}: {service} answered {status} without JSON')
        return status, answer

    async def _exchange(self, request: bytes) -> tuple[int, str]:
        connection = self._take_idle() or await self._open()
        self._busy.add(connection)
        keep = False
        try:
            connection.writer.write(request)
            status, text, keep = await _read_answer(connection.reader)
            return status, text
        except (OSError, EOFError, asyncio.IncompleteReadError) as error:
            if connection.closed_because is not None:
                raise ConnectionAbortedError(connection.closed_because) from error
            raise
        finally:
            self._busy.discard(connection)
            reusable = keep and connection.closed_because is None and connection.reusable
            if reusable and len(self._idle) < _MAX_IDLE:
                connection.idle_since = asyncio.get_running_loop().time()
                self._idle.append(connection)
            else:
                # Timed out, cancelled or failed half-way (what is left on it belongs to no call), or
                # one idle connection too many.
                connection.abort()

    def _take_idle(self) -> _Connection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and now - connection.idle_since < _IDLE_SECONDS:
                return connection
            connection.abort()
        return None

    async def _open(self) -> _Connection:
        ssl = None
        if self._https:
            if self._ssl is None:
                import ssl as ssl_module

                self._ssl = ssl_module.create_default_context()
            ssl = self._ssl
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port, ssl=ssl)
        except OSError as error:
            raise ConnectionError(_connect_failure(error, self._host, self._port)) from error
        return _Connection(reader, writer)

    def _read_token(self) -> str:
        """The token, read from its file once (a mounted Secret); a failed read is tried again by
        the next call."""
        if self._token is None:
            path = self._settings.token_file
            try:
                with open(path or '', encoding='utf-8') as file:
                    self._token = file.read().strip()
            except (OSError, ValueError) as error:
                raise StateUnavailableError(
                    f'cannot read the state token from NIMBUS_STATE_TOKEN_FILE ({path}):'
                    f' {_file_failure(error, path)}'
                ) from error
        return self._token


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, str, bool]:
    """One HTTP/1.1 response: its status, its body as text, and whether the connection may carry
    another request."""
    while True:
        head = (await reader.readuntil(b'\r\n\r\n')).decode('latin-1')
        lines = head.split('\r\n')
        parts = lines[0].split(' ', 2)
        if len(parts) < 2 or not parts[0].startswith('HTTP/1.') or not parts[1].isdigit():
            raise ValueError(f'not an HTTP/1.1 response: {lines[0][:80]!r}')
        status = int(parts[1])
        if status >= 200:
            break  # 1xx answers (100 Continue) come before the real one
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    keep = parts[0] == 'HTTP/1.1' and 'close' not in headers.get('connection', '').lower()
    if 'chunked' in headers.get('transfer-encoding', '').lower():
        body = await _read_chunked(reader)
    elif 'content-length' in headers:
        length = int(headers['content-length'])
        if not 0 <= length <= _MAX_ANSWER_BYTES:
            raise ValueError(f'an answer of {length} bytes')
        body = await reader.readexactly(length)
    else:
        body = await reader.read(_MAX_ANSWER_BYTES)
        keep = False
    return status, body.decode('utf-8', 'replace'), keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b'\r\n')
        length = int(line.split(b';', 1)[0].strip(), 16)
        if length == 0:
            while await reader.readuntil(b'\r\n') != b'\r\n':
                pass  # trailer fields, dropped
            return b''.join(chunks)
        size += length
        if size > _MAX_ANSWER_BYTES:
            raise ValueError(f'an answer of more than {_MAX_ANSWER_BYTES} bytes')
        chunks.append(await reader.readexactly(length))
        await reader.readexactly(2)


def _remote_error(status: int, answer: dict[str, Any]) -> StateError:
    """The service's refusal, by the name of the error it names in `code`."""
    code, message, limit = answer.get('code'), answer.get('error'), answer.get('limit')
    info: dict[str, Any] = {
        'name': code if isinstance(code, str) else 'Error',
        'message': message if isinstance(message, str) else f'the state service answered {status}',
    }
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        info['limit'] = limit
    return to_state_error(info)


def _with_ttl(body: dict[str, Any], ttl_ms: int | None) -> dict[str, Any]:
    if ttl_ms is not None:
        body['ttlMs'] = ttl_ms
    return body


def _host_and_port(authority: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port`."""
    if authority.startswith('['):
        host, _, rest = authority[1:].partition(']')
        return host, int(rest[1:]) if rest.startswith(':') and rest[1:].isdigit() else default_port
    host, colon, port = authority.rpartition(':')
    if colon and port.isdigit():
        return host, int(port)
    return authority, default_port


def _code(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, type(error).__name__)


def _connect_failure(error: OSError, host: str, port: int) -> str:
    """As Node words it, so an operator reads the same line from either runtime."""
    import socket

    if isinstance(error, socket.gaierror):
        return f'getaddrinfo ENOTFOUND {host}'
    # A TLS failure (imported with the first https connection): OpenSSL's words, as Node's.
    verify_message = getattr(error, 'verify_message', None)
    if isinstance(verify_message, str):
        return verify_message
    if type(error).__module__ == 'ssl':
        return getattr(error, 'reason', None) or str(error)
    return f'connect {_code(error)} {host}:{port}' if error.errno else str(error) or type(error).__name__


def _why(error: BaseException) -> str:
    if isinstance(error, ConnectionAbortedError) and error.args and error.args[0] == _SHUTTING_DOWN:
        return _SHUTTING_DOWN
    if isinstance(error, (EOFError, asyncio.IncompleteReadError)):
        return 'socket hang up'
    if isinstance(error, ConnectionError) and not error.errno and error.args:
        return str(error.args[0])
    if isinstance(error, OSError) and error.errno:
        return f'read {_code(error)}'
    return str(error) or type(error).__name__


def _file_failure(error: BaseException, path: str | None) -> str:
    if isinstance(error, OSError) and error.errno:
        reason = error.strerror or ''
        return f"{_code(error)}: {reason[:1].lower()}{reason[1:]}, open '{path}'"
    return str(error)
