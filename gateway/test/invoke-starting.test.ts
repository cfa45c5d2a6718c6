import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import { MemoryBus } from '@nimbus/bus';
import { send } from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';

/**
 * A call by a name the gateway does not know, before and after it has read its Functions: a
 * name may exist that it has not read yet, so it must not say the function does not exist.
 */
describe('the invoke path before the gateway has read its Functions', () => {
  let gateway: Gateway;
  let base: string;
  let reading = true;

  before(async () => {
    const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0' });
    gateway = createGatewayContainer(config, {
      directory: { list: () => [], get: () => undefined },
      routes: new RouteTable(),
      bus: new MemoryBus(),
      readiness: { notReadyReason: () => (reading ? 'reading the functions folder' : undefined) },
      logger: createLogger({}, 'error', () => {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  after(() => gateway.close());

  /** The sync call and the async one, by the same name. */
  const calls = () =>
    Promise.all([
      send(base, '/function/hello?name=Ada'),
      send(base, '/async-function/hello', { method: 'POST', body: '{}' }),
    ]);

  it('answers 503 with Retry-After and the reason while reading, then 404 for a name that is not there', async () => {
    for (const early of await calls()) {
      assert.equal(early.status, 503, early.text);
      assert.equal(early.headers['retry-after'], '1');
      const problem = early.json<{ code: string; error: string }>();
      assert.equal(problem.code, 'FunctionUnavailable');
      assert.match(problem.error, /hello.*reading the functions folder/);
    }
    reading = false;
    for (const late of await calls()) {
      assert.equal(late.status, 404, late.text);
      assert.equal(late.json<{ code: string }>().code, 'FunctionNotFound');
    }
  });
});
