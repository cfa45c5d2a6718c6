import assert from 'node:assert/strict';
import { ConfigError } from '@nimbus/api';
import {
  CALLS_STREAM,
  DEAD_LETTER_STREAM,
  NATS_INBOX_PREFIX,
  natsPermissions,
  readNatsCredentials,
  readNatsUrl,
  subjectCovers,
} from '../src/index.js';

const keyOf = (read: () => unknown): string | undefined => {
  try {
    read();
    return undefined;
  } catch (err) {
    return err instanceof ConfigError ? err.key : `not a ConfigError: ${err}`;
  }
};

/** Would nats-server let this role publish on `subject`? (allow covers it, no deny does.) */
function mayPublish(role: Parameters<typeof natsPermissions>[0], subject: string): boolean {
  const { allow, deny = [] } = natsPermissions(role).publish;
  return allow.some((p) => subjectCovers(p, subject)) && !deny.some((p) => subjectCovers(p, subject));
}

describe('NATS credentials (readNatsCredentials, readNatsUrl)', () => {
  const url = { NIMBUS_NATS_URL: 'nats://nats:4222' };

  it('reads a user and password; neither is anonymous', () => {
    assert.deepEqual(
      readNatsCredentials({ ...url, NIMBUS_NATS_USER: 'gw', NIMBUS_NATS_PASSWORD: 'p@ss word' }),
      {
        user: 'gw',
        pass: 'p@ss word',
      },
    );
    assert.equal(readNatsCredentials(url), undefined);
  });

  const refused: [Record<string, string>, string][] = [
    [{ ...url, NIMBUS_NATS_USER: 'gw' }, 'NIMBUS_NATS_PASSWORD'],
    [{ ...url, NIMBUS_NATS_PASSWORD: 'secret' }, 'NIMBUS_NATS_USER'],
    [{ NIMBUS_NATS_USER: 'gw', NIMBUS_NATS_PASSWORD: 'secret' }, 'NIMBUS_NATS_USER'],
    [{ ...url, NIMBUS_NATS_USER: 'g w', NIMBUS_NATS_PASSWORD: 'secret' }, 'NIMBUS_NATS_USER'],
  ];
  for (const [env, key] of refused) {
    it(`refuses ${JSON.stringify(env)}, naming ${key}`, () => {
      assert.equal(
        keyOf(() => readNatsCredentials(env)),
        key,
      );
    });
  }

  it('refuses credentials inside NIMBUS_NATS_URL, which is logged', () => {
    assert.equal(
      keyOf(() => readNatsUrl({ NIMBUS_NATS_URL: 'nats://gw:secret@nats:4222' })),
      'NIMBUS_NATS_URL',
    );
    assert.equal(
      keyOf(() => readNatsUrl({ NIMBUS_NATS_URL: 'nats://a:4222,nats://tok@b:4222' })),
      'NIMBUS_NATS_URL',
    );
    assert.equal(
      readNatsUrl({ NIMBUS_NATS_URL: 'nats://a:4222,tls://b:4222' }),
      'nats://a:4222,tls://b:4222',
    );
  });
});

describe('NATS permissions (natsPermissions)', () => {
  const table: [string, Parameters<typeof natsPermissions>[0], string, boolean][] = [
    ['the gateway queues calls', 'gateway', 'nimbus.calls.default.hello', true],
    ['the gateway dead-letters', 'gateway', 'nimbus.dlq.default.hello', true],
    ['the gateway pulls calls', 'gateway', `$JS.API.CONSUMER.MSG.NEXT.${CALLS_STREAM}.nimbus-calls`, true],
    [
      'the gateway pulls trigger durables',
      'gateway',
      '$JS.API.CONSUMER.MSG.NEXT.NIMBUS_EVENTS.trigger_a_b_c',
      true,
    ],
    ['the gateway deletes no stream', 'gateway', `$JS.API.STREAM.DELETE.${CALLS_STREAM}`, false],
    ['the gateway purges nothing', 'gateway', `$JS.API.STREAM.PURGE.${CALLS_STREAM}`, false],
    [
      'the gateway reads no stored message directly',
      'gateway',
      `$JS.API.STREAM.MSG.GET.${DEAD_LETTER_STREAM}`,
      false,
    ],
    [
      'the gateway does not manage trigger durables',
      'gateway',
      '$JS.API.CONSUMER.CREATE.NIMBUS_EVENTS.x',
      false,
    ],
    ['the gateway does not publish trigger events', 'gateway', 'shop.orders', false],
    ['the controller manages the events stream', 'controller', '$JS.API.STREAM.UPDATE.NIMBUS_EVENTS', true],
    [
      'the controller deletes trigger durables',
      'controller',
      '$JS.API.CONSUMER.DELETE.NIMBUS_EVENTS.x',
      true,
    ],
    ['the controller reads no message', 'controller', '$JS.API.CONSUMER.MSG.NEXT.NIMBUS_EVENTS.x', false],
    ['the controller queues no call', 'controller', 'nimbus.calls.default.hello', false],
    ['the controller touches no call stream', 'controller', `$JS.API.STREAM.INFO.${CALLS_STREAM}`, false],
    ['local mode manages the events stream', 'local', '$JS.API.STREAM.CREATE.NIMBUS_EVENTS', true],
    ['a publisher publishes events', 'publisher', 'shop.orders', true],
    ['a publisher queues no call', 'publisher', 'nimbus.calls.default.hello', false],
    ['a publisher writes no dead letter', 'publisher', 'nimbus.dlq.default.hello', false],
    ['a publisher uses no JetStream API', 'publisher', `$JS.API.STREAM.INFO.${CALLS_STREAM}`, false],
    ['a publisher acks nothing', 'publisher', `$JS.ACK.${CALLS_STREAM}.nimbus-calls.1.1.1.1.1`, false],
    ['a publisher answers into no component inbox', 'publisher', `${NATS_INBOX_PREFIX.gateway}.abc`, false],
  ];
  for (const [name, role, subject, allowed] of table) {
    it(`${name}: ${allowed ? 'may' : 'may not'} publish ${subject}`, () => {
      assert.equal(mayPublish(role, subject), allowed);
    });
  }

  it('each component subscribes to its own inbox only; the publisher to the default inbox', () => {
    assert.deepEqual(natsPermissions('gateway').subscribe.allow, [`${NATS_INBOX_PREFIX.gateway}.>`]);
    assert.deepEqual(natsPermissions('controller').subscribe.allow, [`${NATS_INBOX_PREFIX.controller}.>`]);
    assert.deepEqual(natsPermissions('publisher').subscribe.allow, ['_INBOX.>']);
  });

  it('narrowed publisher subjects still never reach Nimbus’s own', () => {
    const narrowed = natsPermissions('publisher', ['orders.>', 'nimbus.>']);
    assert.deepEqual(narrowed.publish.allow, ['orders.>', 'nimbus.>']);
    assert.ok(narrowed.publish.deny?.includes('nimbus.>'));
  });
});
