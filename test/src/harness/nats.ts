import { randomBytes } from 'node:crypto';
import {
  CALLS_CONSUMER,
  CALLS_STREAM,
  JetStreamBus,
  type JetStreamBusOptions,
  NATS_INBOX_PREFIX,
  NATS_ROLES,
  type NatsRole,
  natsPermissions,
} from '@nimbus/bus';
import { type NatsServer, type NatsServerOptions, eventually, startNatsServer } from '@nimbus/testkit';

/** The test's own all-powerful user, to look into streams and set scenes; no component has its rights. */
export const TEST_ADMIN = 'test-admin';

/** Who logs in: a component's role, or the test's own admin. */
export type NatsLogin = NatsRole | typeof TEST_ADMIN;

export interface SecuredNats {
  readonly server: NatsServer;
  /** The password of each login. */
  readonly passwords: Readonly<Record<NatsLogin, string>>;
  /** NIMBUS_NATS_URL, NIMBUS_NATS_USER and NIMBUS_NATS_PASSWORD of a component in `role`. */
  env(role: NatsRole): Record<string, string>;
  /** A bus logged in as `login` (with the inbox prefix its component uses). */
  connect(login: NatsLogin, options?: Partial<JetStreamBusOptions>): Promise<JetStreamBus>;
  /** The server's log lines about a publish or subscribe it denied: none while the components do their work. */
  violations(): string[];
  stop(): Promise<void>;
}

/**
 * A nats-server with JetStream that lets in only the users Nimbus's components log in as, with the
 * permissions the chart gives them (`natsPermissions`), plus the test's own admin: the harness
 * default, so the e2e tests run the real paths with least privilege.
 */
export async function startSecuredNats(options: Omit<NatsServerOptions, 'users'> = {}): Promise<SecuredNats> {
  const logins: NatsLogin[] = [...NATS_ROLES, TEST_ADMIN];
  const passwords = Object.fromEntries(
    logins.map((l) => [l, randomBytes(18).toString('base64url')]),
  ) as Record<NatsLogin, string>;
  const server = await startNatsServer({
    ...options,
    users: logins.map((login) => ({
      user: login,
      password: passwords[login],
      ...(login === TEST_ADMIN ? {} : { permissions: natsPermissions(login) }),
    })),
  });
  return {
    server,
    passwords,
    env: (role) => ({
      NIMBUS_NATS_URL: server.url,
      NIMBUS_NATS_USER: role,
      NIMBUS_NATS_PASSWORD: passwords[role],
    }),
    connect: (login, more = {}) =>
      JetStreamBus.connect({
        servers: server.url,
        name: `test-${login}`,
        user: login,
        pass: passwords[login],
        inboxPrefix: inboxPrefixOf(login),
        ...more,
      }),
    violations: () => server.output.split('\n').filter((line) => line.includes('Violation')),
    stop: () => server.stop(),
  };
}

function inboxPrefixOf(login: NatsLogin): string | undefined {
  if (login === 'gateway' || login === 'local') return NATS_INBOX_PREFIX.gateway;
  if (login === 'controller') return NATS_INBOX_PREFIX.controller;
  return undefined;
}

/**
 * Until a gateway on `secured` can queue async calls: it sets the calls stream, the dead-letter
 * stream and last the shared durable up in the background once it reaches NATS, and answers 503
 * QueueUnavailable until then. Looked at as the test's admin.
 */
export async function untilCallsQueueReady(secured: SecuredNats, ms = 15_000): Promise<void> {
  const bus = await secured.connect(TEST_ADMIN);
  try {
    await eventually(
      async () => ((await bus.consumerInfo(CALLS_STREAM, CALLS_CONSUMER)) ? true : undefined),
      ms,
      'the gateway to set the calls durable up',
    );
  } finally {
    await bus.close();
  }
}
