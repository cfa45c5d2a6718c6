/**
 * Handler sources for runtime-python, the counterparts of fixtures.ts. The kitchen sink answers the
 * same routes with the same observable behaviour as KITCHEN_SINK, once as an `async def` (`handle`)
 * and once as a plain `def` run on a handler thread (`handle_sync`), so the shared invocation suite
 * covers both kinds of Python handler.
 */

export const PY_KITCHEN_SINK = `
import asyncio
import base64
import threading
import time

slow_started = 0
last_abort = None
NOT_HANDLED = object()


def b64(data):
    return base64.b64encode(data).decode('ascii')


def js_type(value):
    """typeof, as the Node kitchen sink reports it."""
    if value is None:
        return 'undefined'
    if isinstance(value, bytes):
        return 'buffer'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, bool):
        return 'boolean'
    if isinstance(value, (int, float)):
        return 'number'
    return 'object'


def echo(event, ctx):
    result = {
        'method': event.method,
        'path': event.path,
        'query': event.query,
        'headers': event.headers,
        'bodyType': js_type(event.body),
        'rawBody': b64(event.raw_body),
        'cloudEvent': None,
        'ctx': {
            'functionName': ctx.function_name,
            'namespace': ctx.namespace,
            'invocationId': ctx.invocation_id,
            'deadlineAhead': ctx.deadline - int(time.time() * 1000),
            'remaining': ctx.remaining_ms(),
            'aborted': ctx.cancelled.is_set(),
        },
    }
    if event.body is not None:
        result['body'] = {'base64': b64(event.body)} if isinstance(event.body, bytes) else event.body
    if event.cloud_event is not None:
        cloud_event = dict(event.cloud_event)
        if isinstance(cloud_event.get('data'), bytes):
            cloud_event['data'] = {'base64': b64(cloud_event['data'])}
        result['cloudEvent'] = cloud_event
    return result


def ms(event):
    value = event.query.get('ms', '200')
    return float(value[-1] if isinstance(value, list) else value) / 1000


def record_abort(ctx):
    global last_abort
    last_abort = {'id': ctx.invocation_id, 'reason': str(ctx.cancelled.reason)}


def fail_in_thread():
    raise RuntimeError('thrown from a thread')


def common(event, ctx):
    """The routes that neither wait nor call out: the same for both kinds of handler."""
    path = event.path
    if path == '/echo':
        return echo(event, ctx)
    if path == '/text':
        return 'hello'
    if path == '/bytes':
        return bytes([1, 2, 3])
    if path == '/nothing':
        return None
    if path == '/number':
        return 42
    if path == '/explicit':
        return {'statusCode': 201, 'headers': {'X-Custom': 'yes', 'x-call-id': 'forged'}, 'body': {'created': True}}
    if path == '/bad-status':
        return {'statusCode': 700}
    if path == '/throw':
        raise RuntimeError('boom from handler')
    if path == '/last-abort':
        return last_abort
    if path == '/slow-count':
        return slow_started
    if path == '/log':
        ctx.log.info('hello from the handler', extra=1)
        return 'logged'
    return NOT_HANDLED


def not_found(event):
    return {'statusCode': 404, 'body': {'error': 'no route ' + event.path}}


async def handle(event, ctx):
    global slow_started
    path = event.path
    if path == '/hang':
        await ctx.cancelled.wait()
        record_abort(ctx)
        return None
    if path == '/slow':
        slow_started += 1
        await asyncio.sleep(ms(event))
        return 'slow done'
    if path == '/leak':
        threading.Thread(target=fail_in_thread).start()

        async def fail_in_task():
            raise RuntimeError('leaked task exception')

        asyncio.get_running_loop().create_task(fail_in_task())
        return 'leaked'
    if path == '/invoke':
        return await ctx.invoke('adder', {'a': 1, 'b': 2})
    if path == '/state':
        try:
            await ctx.state.get('k')
            return 'unexpected'
        except Exception as error:
            return {'error': str(error)}
    value = common(event, ctx)
    return not_found(event) if value is NOT_HANDLED else value


def handle_sync(event, ctx):
    global slow_started
    path = event.path
    if path == '/hang':
        ctx.cancelled.wait()
        record_abort(ctx)
        return None
    if path == '/slow':
        slow_started += 1
        time.sleep(ms(event))
        return 'slow done'
    if path == '/leak':
        threading.Thread(target=fail_in_thread).start()
        return 'leaked'
    if path == '/invoke':
        return ctx.invoke('adder', {'a': 1, 'b': 2})
    if path == '/state':
        try:
            ctx.state.get('k')
            return 'unexpected'
        except Exception as error:
            return {'error': str(error)}
    value = common(event, ctx)
    return not_found(event) if value is NOT_HANDLED else value
`;

export const PY_ASYNC_DEFAULT = `async def handle(event, ctx):\n    return {'kind': 'async', 'method': event.method}\n`;
export const PY_SYNC_DEFAULT = `def handle(event, ctx):\n    return 'sync ' + ctx.function_name\n`;
export const PY_NAMED = `def handle(event, ctx):\n    return 'wrong function'\n\n\nasync def greet(event, ctx):\n    return {'kind': 'named'}\n`;
export const PY_IMPORTS_NEIGHBOUR = `from helper import shout\n\n\ndef handle(event, ctx):\n    return shout('neighbour')\n`;
export const PY_HELPER = 'def shout(text):\n    return text.upper()\n';
export const PY_THROWS_ON_LOAD = `raise Exception('cannot start: DATABASE_URL is not set')\n`;
export const PY_SYNTAX_ERROR = 'async def handle(event, ctx:\n    return 1\n';

/**
 * ctx.state, each operation on a path of its own, in both kinds of handler. A failure the handler
 * catches comes back as its name and message; on /uncaught/... it is left to the runtime.
 */
export const PY_STATE = `
def ttl(event):
    value = event.query.get('ttl')
    return float(value) if value is not None else None


def caught(error):
    return {'name': type(error).__name__, 'message': str(error), 'limit': getattr(error, 'limit', None)}


async def handle(event, ctx):
    try:
        return await operate(event, ctx.state)
    except Exception as error:
        if event.path.startswith('/uncaught/'):
            raise
        return caught(error)


async def operate(event, state):
    key = event.query.get('key', 'k')
    operation = event.path.removeprefix('/uncaught')
    if operation == '/set':
        return {'version': await state.set(key, event.body, ttl_seconds=ttl(event))}
    if operation == '/get':
        return {'value': await state.get(key)}
    if operation == '/get-with-version':
        entry = await state.get_with_version(key)
        return {'absent': True} if entry is None else {'value': entry.value, 'version': entry.version}
    if operation == '/incr':
        return {'value': await state.incr(key, int(event.query.get('by', '1')))}
    if operation == '/delete':
        return {'deleted': await state.delete(key)}
    if operation == '/cas':
        return {'written': await state.compare_and_set(key, event.query.get('version'), event.body)}
    return {'statusCode': 404}


def handle_sync(event, ctx):
    try:
        return operate_sync(event, ctx.state)
    except Exception as error:
        if event.path.startswith('/uncaught/'):
            raise
        return caught(error)


def operate_sync(event, state):
    key = event.query.get('key', 'k')
    operation = event.path.removeprefix('/uncaught')
    if operation == '/set':
        return {'version': state.set(key, event.body, ttl_seconds=ttl(event))}
    if operation == '/get':
        return {'value': state.get(key)}
    if operation == '/get-with-version':
        entry = state.get_with_version(key)
        return {'absent': True} if entry is None else {'value': entry.value, 'version': entry.version}
    if operation == '/incr':
        return {'value': state.incr(key, int(event.query.get('by', '1')))}
    if operation == '/delete':
        return {'deleted': state.delete(key)}
    if operation == '/cas':
        return {'written': state.compare_and_set(key, event.query.get('version'), event.body)}
    return {'statusCode': 404}
`;

/** POOL_ENV's twin: the env at import and per call, and what the function finds of the pool token. */
export const PY_POOL_ENV = `
import os

AT_IMPORT = os.environ.get('GREETING')


def secrets(path):
    try:
        with open('/proc/self/environ', encoding='latin-1') as file:
            proc_environ = file.read()
    except OSError:
        proc_environ = None
    return {
        'env': dict(os.environ),
        'procEnviron': proc_environ,
        'fileExists': os.path.exists(path),
        'dirEntries': sorted(os.listdir(os.path.dirname(path))),
    }


def answer(event, ctx):
    if event.path == '/secrets':
        return secrets(event.query.get('file', ''))
    return {
        'atImport': AT_IMPORT,
        'now': os.environ.get('GREETING'),
        'functionName': ctx.function_name,
        'namespace': ctx.namespace,
        'tokenFile': os.environ.get('NIMBUS_POOL_TOKEN_FILE'),
    }


async def handle(event, ctx):
    if event.path == '/hang':
        await ctx.cancelled.wait()
        return None
    return answer(event, ctx)


def handle_sync(event, ctx):
    if event.path == '/hang':
        ctx.cancelled.wait()
        return None
    return answer(event, ctx)
`;

/** SHIPPED's twins, as `lib/greet.hello`. */
export const PY_SHIPPED = `async def hello(event, ctx):\n    return {'hello': event.query.get('name')}\n`;
export const PY_SHIPPED_SYNC = `def hello(event, ctx):\n    return {'hello': event.query.get('name')}\n`;

/** TRACED's twin, in both kinds of handler. */
export const PY_TRACED = `
def answer(other, state):
    return {
        'statusCode': 200,
        'headers': {'x-nimbus-spans': 'forged by the handler'},
        'body': {'other': other.status_code, 'state': state},
    }


async def handle(event, ctx):
    if event.path == '/many':
        for _ in range(80):
            try:
                await ctx.state.get('k')
            except Exception:
                pass
        return 'many'
    other = await ctx.invoke('other', {'n': 1})
    state = 'ok'
    try:
        await ctx.state.get('some-key')
    except Exception as error:
        state = str(error)
    return answer(other, state)


def handle_sync(event, ctx):
    if event.path == '/many':
        for _ in range(80):
            try:
                ctx.state.get('k')
            except Exception:
                pass
        return 'many'
    other = ctx.invoke('other', {'n': 1})
    state = 'ok'
    try:
        ctx.state.get('some-key')
    except Exception as error:
        state = str(error)
    return answer(other, state)
`;
