import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@nimbus/api';
import { type NatsServer, eventually, freePort, send, startNatsServer } from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';

const ADMIN = 'admin-key-0123456789';

describe('async calls on a real nats-server that is down when the gateway starts', function () {
  this.timeout(30_000);
  let nats: NatsServer;
  let replica: Server;
  let gateway: Gateway;
  let base: string;

  before(async () => {
    nats = await startNatsServer();
    await nats.pause();
    replica = createServer((_req, res) => res.end('done'));
    await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve));
    const routes = new RouteTable();
    routes.upsert({ name: 'job', namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none' });
    routes.setEndpoints('default', 'job', [
      { id: 'job-0', host: '127.0.0.1', port: (replica.address() as AddressInfo).port },
    ]);
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_API_KEYS: `admin:${ADMIN}`,
      NIMBUS_NATS_URL: nats.url,
    });
    gateway = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'error'),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  after(async () => {
    await gateway?.close();
    replica?.closeAllConnections();
    await new Promise((r) => replica?.close(r));
    await nats?.stop();
  });

  it('serves sync calls and answers async ones 503 until NATS is up, then queues and runs them', async () => {
    const sync = await send(base, '/function/job');
    assert.equal(sync.status, 200, 'the invoke path does not wait for NATS');
    const early = await send(base, '/async-function/job', { method: 'POST' });
    assert.equal(early.status, 503);
    assert.equal(early.json().code, 'QueueUnavailable');
    assert.match(String(early.json().error), /not connected to NATS yet/);
    await nats.resume();
    const reply = await eventually(
      async () => {
        const r = await send(base, '/async-function/job', { method: 'POST' });
        return r.status === 202 ? r : undefined;
      },
      15_000,
      'the gateway to connect and set up the streams',
    );
    const id = reply.headers['x-call-id'] as string;
    const done = await eventually(
      async () => {
        const r = await send(base, `/system/calls/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
        const call = r.json<{ status: string; result?: { body: string } }>();
        return call.status === 'succeeded' ? call : undefined;
      },
      10_000,
      'the call to run',
    );
    assert.equal(done.result?.body, 'done');
  });

  it('stops promptly while NATS has never answered', async () => {
    const nowhere = `nats://127.0.0.1:${await freePort()}`;
    const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0', NIMBUS_NATS_URL: nowhere });
    const lonely = createGatewayContainer(config, {
      logger: createLogger({}, 'error'),
    }).resolve<Gateway>(TOKENS.Gateway);
    const port = (await lonely.listen()).port;
    const reply = await send(`http://127.0.0.1:${port}`, '/async-function/job', { method: 'POST' });
    assert.equal(reply.status, 404, 'no such function here, but the gateway answers');
    const started = Date.now();
    await lonely.close();
    assert.ok(Date.now() - started < 5_000, `closing took ${Date.now() - started} ms`);
  });
});
