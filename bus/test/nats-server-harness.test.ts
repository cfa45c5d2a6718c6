import { strict as assert } from 'node:assert';
import { access } from 'node:fs/promises';
import { startNatsServer } from '@nimbus/testkit';
import { JetStreamBus } from '../src/index.js';

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startNatsServer (testkit)', function () {
  this.timeout(30_000);

  it('runs JetStream on a port of its own, keeps streams across a restart, and cleans up after itself', async () => {
    const server = await startNatsServer();
    try {
      assert.notEqual(server.port, 4222, 'never the machine’s own NATS');
      assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
      const first = server.pid;
      assert.ok(alive(first));
      let bus = await JetStreamBus.connect({ servers: server.url });
      await bus.ensureStream({ name: 'KEPT', subjects: ['kept.>'] });
      await bus.publish('kept.x', new TextEncoder().encode('x'));
      await bus.ensureConsumer({ stream: 'KEPT', name: 'c' });
      await bus.close();

      await server.restart();
      assert.notEqual(server.pid, first);
      assert.equal(alive(first), false, 'the old process is gone');
      bus = await JetStreamBus.connect({ servers: server.url });
      assert.equal((await bus.consumerInfo('KEPT', 'c'))?.pending, 1, 'stream and consumer survived');
      await bus.close();
    } finally {
      const last = server.pid;
      await server.stop();
      assert.equal(alive(last), false);
      await assert.rejects(access(server.storeDir), 'the store is removed');
    }
  });

  it('with users, lets in only them (passwords taken literally), each within its permissions', async () => {
    const password = 'p$ss "quoted" #not-a-comment';
    const server = await startNatsServer({
      users: [
        { user: 'narrow', password, permissions: { publish: { allow: ['ok.>'] }, subscribe: { allow: [] } } },
      ],
    });
    try {
      await assert.rejects(JetStreamBus.connect({ servers: server.url }), /Authorization Violation/);
      await assert.rejects(
        JetStreamBus.connect({ servers: server.url, user: 'narrow', pass: 'p$ss' }),
        /Authorization Violation/,
      );
      const bus = await JetStreamBus.connect({ servers: server.url, user: 'narrow', pass: password });
      try {
        await assert.rejects(
          bus.ensureStream({ name: 'NOPE', subjects: ['nope.>'] }),
          /Permissions Violation/,
        );
      } finally {
        await bus.close();
      }
      assert.match(server.output, /Publish Violation - User "narrow"/);
    } finally {
      await server.stop();
    }
  });
});
