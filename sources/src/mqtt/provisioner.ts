import type { ResolvedSource } from '@nimbus/api';
import type { MqttClient } from 'mqtt';
import { type SecretReader, SourceConfigError, type SourceProvisioner } from '../source.js';
import { clientIdOf, fieldOf, readEndpoint } from './endpoint.js';
import {
  CONFIG_REFUSALS,
  MqttRefusedError,
  SubscribeRefusedError,
  checkFilters,
  openSession,
  subscribeAll,
} from './session.js';

/**
 * What an MQTT trigger needs of its broker is a session, which the reader's first connection makes.
 * `ensure` checks that it can be had: it logs in and subscribes under a probe client id of its own,
 * in a clean session it ends at once, and never under the trigger's id, which would take the
 * session from a running reader. `remove` ends the trigger's session: it connects under the
 * trigger's id with a clean start and no expiry, so the broker drops the session, its
 * subscriptions and the messages it queued.
 */
export const mqttProvisioner: SourceProvisioner<'mqtt'> = {
  async ensure(source, secrets) {
    const topicsRefused = (err: unknown) =>
      err instanceof SubscribeRefusedError
        ? new SourceConfigError(fieldOf(source, 'topics'), `${fieldOf(source, 'topics')}: ${err.message}`)
        : err;
    try {
      // A malformed filter is said even while the broker is out of reach.
      checkFilters(source.spec.topics);
      await withSession(source, secrets, 'probe', async (client) => {
        await subscribeAll(client, source.spec.topics, source.spec.qos ?? 1);
      });
    } catch (err) {
      throw topicsRefused(err);
    }
  },
  async remove(source, secrets) {
    await withSession(source, secrets, 'session', async () => {});
  },
};

/**
 * Connects with a clean session under the trigger's id or its probe id, runs `use`, and disconnects
 * (the session ends with it). A login the broker refuses is a SourceConfigError naming the
 * connection; a broker out of reach is a plain error, worth retrying.
 */
async function withSession(
  source: ResolvedSource<'mqtt'>,
  secrets: SecretReader,
  purpose: 'session' | 'probe',
  use: (client: MqttClient) => Promise<void>,
): Promise<void> {
  const endpoint = await readEndpoint(source, secrets);
  const { client, accepted } = openSession(endpoint, { clientId: clientIdOf(source, purpose), clean: true });
  try {
    await accepted;
  } catch (err) {
    if (err instanceof MqttRefusedError && CONFIG_REFUSALS.has(err.reasonCode))
      throw new SourceConfigError(fieldOf(source, 'connection'), err.message);
    throw err;
  }
  try {
    await use(client);
  } finally {
    await client.endAsync();
  }
}
