import {
  ErrorCode,
  Events,
  JSONCodec,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NatsError,
  createInbox,
  headers as natsHeaders,
} from 'nats';

/** What JetStream answers a publish with: where the message is stored, or why it is not. */
export interface StoredAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

interface Waiter {
  readonly subject: string;
  readonly timer: NodeJS.Timeout;
  resolve(ack: StoredAck): void;
  reject(err: unknown): void;
}

interface AckBody {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code: number; err_code?: number; description: string };
}

const codec = JSONCodec<AckBody>();

/**
 * JetStream publishes and their acknowledgements, on one inbox subscription of this connection's
 * own. nats.js's `jetstream().publish()` sends each as a request, and its request settles a
 * promise, then cancels itself by building a NatsError (a stack capture) that nothing reads: 2.5 %
 * of the gateway's CPU while an event source drains. Here a publish is a plain publish with a reply
 * subject of this inbox, and the acknowledgement settles it; errors keep the shapes nats.js gives
 * them (a JetStream API error with `api_error`, no responders, a timeout, a publish the user may
 * not make), so the bus says them as before.
 */
export class PublishAcks {
  private readonly inbox: string;
  private readonly waiting = new Map<number, Waiter>();
  private last = 0;

  constructor(
    private readonly nc: NatsConnection,
    inboxPrefix: string | undefined,
  ) {
    this.inbox = createInbox(inboxPrefix);
    nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.answer(err, msg) });
    this.watchRefusals().catch(() => {});
    void nc.closed().then(() => this.failAll(NatsError.errorForCode(ErrorCode.ConnectionClosed)));
  }

  /** Publishes and resolves with where JetStream stored the message; rejects as nats.js would. */
  publish(
    subject: string,
    data: Uint8Array,
    msgId: string | undefined,
    given: MsgHdrs | undefined,
    timeoutMs: number,
  ): Promise<StoredAck> {
    const id = ++this.last;
    let headers = given;
    // An empty id is no id, as nats.js took it.
    if (msgId !== undefined && msgId !== '') {
      headers ??= natsHeaders();
      headers.set('Nats-Msg-Id', msgId);
    }
    return new Promise<StoredAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(NatsError.errorForCode(ErrorCode.Timeout));
      }, timeoutMs);
      this.waiting.set(id, { subject, timer, resolve, reject });
      try {
        this.nc.publish(subject, data, {
          reply: `${this.inbox}.${id}`,
          ...(headers === undefined ? {} : { headers }),
        });
      } catch (err) {
        this.settle(id)?.reject(err);
      }
    });
  }

  private answer(err: NatsError | null, msg: Msg): void {
    if (err !== null) {
      // The subscription itself was refused (the user may not subscribe to its inbox): nothing can be acknowledged.
      this.failAll(err);
      return;
    }
    const waiter = this.settle(Number(msg.subject.slice(this.inbox.length + 1)));
    if (waiter === undefined) return; // timed out already
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      waiter.reject(NatsError.errorForCode(ErrorCode.NoResponders));
      return;
    }
    let body: AckBody;
    try {
      body = codec.decode(msg.data);
    } catch (cause) {
      waiter.reject(
        new NatsError('the acknowledgement is not JSON', ErrorCode.JetStreamInvalidAck, cause as Error),
      );
      return;
    }
    if (body.error !== undefined) {
      const refusal = new NatsError(body.error.description, `${body.error.code}`);
      refusal.api_error = { ...body.error, err_code: body.error.err_code ?? 0 };
      waiter.reject(refusal);
    } else if (typeof body.stream !== 'string' || body.stream === '' || typeof body.seq !== 'number') {
      waiter.reject(NatsError.errorForCode(ErrorCode.JetStreamInvalidAck));
    } else waiter.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true });
  }

  /** A publish the server refused for the user's permissions fails the oldest one waiting on that subject. */
  private async watchRefusals(): Promise<void> {
    for await (const status of this.nc.status()) {
      const context = status.permissionContext;
      if (status.type !== Events.Error || context?.operation !== 'publish') continue;
      for (const [id, waiter] of this.waiting) {
        if (waiter.subject !== context.subject) continue;
        this.settle(id);
        waiter.reject(
          new NatsError(
            `Permissions Violation for Publish to "${context.subject}"`,
            ErrorCode.PermissionsViolation,
          ),
        );
        break;
      }
    }
  }

  private settle(id: number): Waiter | undefined {
    const waiter = this.waiting.get(id);
    if (waiter === undefined) return undefined;
    this.waiting.delete(id);
    clearTimeout(waiter.timer);
    return waiter;
  }

  private failAll(err: unknown): void {
    for (const id of [...this.waiting.keys()]) this.settle(id)?.reject(err);
  }
}
