import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Reply, eventually, send } from '@nimbus/testkit';
import { ADMIN_KEY } from './local-mode-process.js';

export const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** What GET /system/calls/{id} answers, as far as the tests read it. */
export interface CallView {
  id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  attempts: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  timings: { waitMs?: number; initMs?: number; durationMs?: number };
  result?: { statusCode: number; headers: Record<string, string>; body: string };
  lastError?: string;
}

export const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

export function postAsync(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<Reply> {
  return send(base, `/async-function/${path}`, { method: 'POST', headers, body });
}

export async function callRecord(base: string, id: string): Promise<CallView | undefined> {
  const reply = await send(base, `/system/calls/${id}`, { headers: admin });
  if (reply.status === 404) return undefined;
  if (reply.status !== 200) throw new Error(`GET /system/calls/${id}: ${reply.status} ${reply.text}`);
  return reply.json<CallView>();
}

/** Polls one call until it has `status`. */
export function callReaches(
  base: string,
  id: string,
  status: CallView['status'],
  ms = 20_000,
): Promise<CallView> {
  return eventually(
    async () => {
      const call = await callRecord(base, id);
      return call?.status === status ? call : undefined;
    },
    ms,
    `call ${id} to be ${status}`,
  );
}

/** Reads many records, `width` at a time. */
export async function callRecords(
  base: string,
  ids: readonly string[],
  width = 32,
): Promise<Map<string, CallView>> {
  const out = new Map<string, CallView>();
  for (let i = 0; i < ids.length; i += width) {
    const batch = await Promise.all(ids.slice(i, i + width).map((id) => callRecord(base, id)));
    for (const call of batch) if (call !== undefined) out.set(call.id, call);
  }
  return out;
}

/** Runs `work` over `items` with at most `width` at once, in order of start. */
export async function inParallel<T, R>(
  items: readonly T[],
  width: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

export interface Callback {
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP server that takes callbacks (any POST) and keeps them by X-Call-Id. */
export class CallbackReceiver {
  readonly byId = new Map<string, Callback[]>();
  url = '';
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const id = String(req.headers['x-call-id'] ?? '');
        const list = this.byId.get(id) ?? [];
        list.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        this.byId.set(id, list);
        res.end();
      });
    });
  }

  static async start(): Promise<CallbackReceiver> {
    const receiver = new CallbackReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/callback`;
    return receiver;
  }

  /** Callbacks received in all. */
  get count(): number {
    let n = 0;
    for (const list of this.byId.values()) n += list.length;
    return n;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The last sequence number a JetStream stream gave out, from nats-server's monitoring port (/jsz). */
export async function streamLastSeq(monitorPort: number, stream: string): Promise<number> {
  const reply = await send(`http://127.0.0.1:${monitorPort}`, '/jsz?streams=true');
  const details = reply.json<{
    account_details?: { stream_detail?: { name: string; state: { last_seq: number } }[] }[];
  }>();
  for (const account of details.account_details ?? []) {
    const found = account.stream_detail?.find((s) => s.name === stream);
    if (found !== undefined) return found.state.last_seq;
  }
  throw new Error(`no stream ${stream} on the server`);
}

/** A dead letter as GET /system/dead-letters lists it, as far as the tests read it. */
export interface DeadLetterView {
  id: string;
  lastError: string;
  attempts: number;
  request: { headers: Record<string, string> };
}

/** Polls a function's dead letters until one holds the event whose `ce-id` is `eventId`. */
export function deadLetterOfEvent(
  base: string,
  fn: string,
  eventId: string,
  ms = 20_000,
  namespace = 'default',
): Promise<DeadLetterView> {
  return eventually(
    async () => {
      const reply = await send(base, `/system/dead-letters?namespace=${namespace}&function=${fn}`, {
        headers: admin,
      });
      return reply
        .json<{ entries: DeadLetterView[] }>()
        .entries.find((e) => e.request.headers['ce-id'] === eventId);
    },
    ms,
    `a dead letter of ${fn} for ${eventId}`,
  );
}
