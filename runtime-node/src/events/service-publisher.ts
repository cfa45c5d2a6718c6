import {
  type EventPublisher,
  PublishError,
  type PublishOptions,
  publishRequest,
} from '../invoke/event-publisher.js';
import { InternalClient } from '../state/internal-client.js';
import type { ServicePublishSettings } from './publish-config.js';

/**
 * ctx.publish in a cluster: one POST to the gateway's events endpoint, with the function's name and
 * token (the same as ctx.state's). The pod holds no NATS credentials: the gateway says who
 * published, refuses Nimbus's own subjects and bounds the size.
 */
export class ServicePublisher implements EventPublisher {
  private readonly client: InternalClient;
  private readonly inFlight = new Set<AbortController>();

  constructor(
    private readonly settings: ServicePublishSettings,
    namespace: string,
    fn: string,
  ) {
    this.client = new InternalClient(
      settings,
      namespace,
      fn,
      (tokenFile, error) =>
        new PublishError(
          'PublishUnavailableError',
          `ctx.publish: cannot read the function token from ${tokenFile}: ${error.message}`,
          0,
          'PublishUnavailable',
          { cause: error },
        ),
    );
  }

  async publish(subject: string, data: unknown, options?: PublishOptions): Promise<string> {
    const body = JSON.stringify(publishRequest(subject, data, options));
    const token = await this.client.readToken();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.settings.timeoutMs);
    this.inFlight.add(controller);
    let response: { status: number; text: string };
    try {
      response = await this.client.post('/v1/events/publish', token, body, controller.signal);
    } catch (error) {
      const why = controller.signal.aborted
        ? `no answer within ${this.settings.timeoutMs} ms`
        : (error as Error).message;
      throw new PublishError(
        'PublishUnavailableError',
        `ctx.publish ${subject}: the gateway is unavailable (${why})`,
        0,
        'PublishUnavailable',
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
    return publishedId(subject, response);
  }

  async close(): Promise<void> {
    for (const controller of this.inFlight) controller.abort();
    this.client.close();
  }
}

/** The event id of a 202, or the gateway's refusal as a PublishError. */
function publishedId(subject: string, response: { status: number; text: string }): string {
  let parsed: { id?: unknown; error?: unknown; code?: unknown };
  try {
    parsed = JSON.parse(response.text) as typeof parsed;
  } catch {
    parsed = {};
  }
  if (response.status === 202 && typeof parsed.id === 'string') return parsed.id;
  const reason = typeof parsed.error === 'string' ? parsed.error : `the gateway answered ${response.status}`;
  throw new PublishError(
    response.status >= 500 ? 'PublishUnavailableError' : 'PublishRefusedError',
    `ctx.publish ${subject}: ${reason}`,
    response.status,
    typeof parsed.code === 'string' ? parsed.code : 'PublishRefused',
  );
}
