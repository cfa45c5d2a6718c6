import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
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
      readiness: { notReadyReason: () => (reading ? 'reading the functions folder' : undefined) },
      logger: createLogger({}, 'error', () => {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  after(() => gateway.close());

  it('answers 503 with Retry-After and the reason while reading, then 404 for a name that is not there', async () => {
    const early = await send(base, '/function/hello?name=Ada');
    assert.equal(early.status, 503);
    assert.equal(early.headers['retry-after'], '1');
    const problem = early.json<{ code: string; error: string }>();
    assert.equal(problem.code, 'FunctionUnavailable');
    assert.match(problem.error, /hello.*reading the functions folder/);
    reading = false;
    const late = await send(base, '/function/hello?name=Ada');
    assert.equal(late.status, 404);
    assert.equal(late.json<{ code: string }>().code, 'FunctionNotFound');
  });
});
