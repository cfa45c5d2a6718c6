import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Logger, type ResolvedSource, isNamespace, sourceKey, sourceTriggersOf } from '@nimbus/api';
import {
  PushRefusedError,
  type PushedRequest,
  type PushedSource,
  SourceConfigError,
  type SourceEvent,
  loadSourceKind,
} from '@nimbus/sources';
import type { ClaimStore } from '@nimbus/store';
import { Problem, problems, sendProblem } from '../http/problems.js';
import { readBody } from '../http/read-body.js';
import type { SecretGraceMetrics } from '../metrics/secret-grace-metrics.js';
import { type FunctionDirectory, declaredFunction } from '../ports.js';
import type { BusSourceSink } from './bus-sink.js';
import type { SecretRotations } from './secret-rotation.js';
import { setupFailureOf } from './setup-failure.js';
import type { SourceHealthBoard } from './source-health.js';
import type { TriggerSecrets } from './source-runner.js';

/** Where pushed sources are served: `/webhook/{namespace}/{function}/{trigger}`. */
export const WEBHOOK_PREFIX = '/webhook/';

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface PushedSourcesDeps {
  readonly directory: FunctionDirectory;
  readonly secrets: TriggerSecrets;
  readonly sinkFor: (source: ResolvedSource) => Pick<BusSourceSink, 'store'>;
  readonly health: SourceHealthBoard;
  /** Where delivered ids are remembered, so a replay is stored once however late it comes. */
  readonly seen: Pick<ClaimStore, 'claim' | 'holder'>;
  readonly maxBodyBytes: number;
  readonly now: () => number;
  readonly log: Logger;
  /** What a trigger's Secrets held before a rotation: still accepted during the grace. */
  readonly rotations: Pick<SecretRotations, 'previous' | 'firstGraceUse'>;
  /** Counts the requests accepted with a previous secret. */
  readonly grace: Pick<SecretGraceMetrics, 'acceptedInGrace'>;
}

/**
 * The public endpoint of the triggers that are pushed to (webhooks, S3 event notifications). It
 * answers 202 only once every event of the request is stored in the durable path; a sender whose
 * request is refused hears why (401 for a bad signature, 400 for a body that is not what the
 * kind takes), and one whose events could not be stored gets 503 with Retry-After, so a sender
 * that retries loses nothing. Nothing is stored before the sender is proven.
 */
export class PushedSources {
  constructor(private readonly deps: PushedSourcesDeps) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.serve(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendProblem(res, err);
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const query = raw.indexOf('?');
    // The path as sent: no dot segments resolved, so a path names one trigger or none.
    const path = query === -1 ? raw : raw.slice(0, query);
    const source = this.sourceAt(path);
    if (req.method !== 'POST') throw problems.methodNotAllowed('a webhook takes POST', 'POST');
    const module = await loadSourceKind(source.kind);
    if (module.pushed === undefined) throw noWebhook(path);
    const body = await readBody(req, this.deps.maxBodyBytes, res);
    const request: PushedRequest = {
      method: req.method,
      headers: headersOf(req),
      query: new URLSearchParams(query === -1 ? '' : raw.slice(query + 1)),
      body,
    };
    let events: SourceEvent[];
    try {
      events = await this.accept(module.pushed, source, request);
    } catch (err) {
      if (err instanceof SourceConfigError) {
        // Said to the operator (status, log), not to whoever is on the public side.
        this.deps.health.setup(source, setupFailureOf(source, err));
        this.deps.log.warn('a pushed trigger cannot check requests', {
          trigger: sourceKey(source),
          why: err.message,
        });
        throw new Problem(503, 'NotConfigured', 'this webhook cannot take requests now', {
          'retry-after': '30',
        });
      }
      if (!(err instanceof PushRefusedError)) throw err;
      this.deps.health.count(source, 'refused');
      this.deps.log.info('refused a pushed request', {
        trigger: source.name,
        status: err.status,
        why: err.message,
      });
      throw new Problem(err.status, 'PushRefused', err.message);
    }
    const sink = this.deps.sinkFor(source);
    const key = sourceKey(source);
    let fresh: typeof events;
    try {
      fresh = await this.unseen(key, events);
      await Promise.all(fresh.map((event) => sink.store(event)));
    } catch (err) {
      this.deps.log.warn('could not store pushed events; the sender is told to retry', { trigger: key, err });
      throw new Problem(503, 'NotStored', 'the events could not be stored; retry later', {
        'retry-after': '5',
      });
    }
    // Remembered once stored: a replay inside the stream's window is dropped there anyway, and
    // one after it (a signature without a timestamp, replayed a day later) is dropped here.
    await Promise.all(
      fresh.map((e) => this.deps.seen.claim(seenKey(key, e.id), 'stored', SEEN_MS).catch(() => false)),
    );
    const text = JSON.stringify({
      accepted: events.length,
      duplicates: events.length - fresh.length,
      ids: events.map((e) => e.id),
    });
    res.writeHead(202, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  /**
   * The request's events, checked with the trigger's Secrets as they are now; a request refused
   * as unsigned by them (401) is checked again with what they held before a rotation, while its
   * grace lasts, and refused as the first check said otherwise.
   */
  private async accept(
    pushed: PushedSource,
    source: ResolvedSource,
    request: PushedRequest,
  ): Promise<SourceEvent[]> {
    const current = this.deps.secrets.reader(source.namespace, source.function);
    const now = this.deps.now();
    try {
      return await pushed.accept(source, request, current, now);
    } catch (err) {
      if (!(err instanceof PushRefusedError) || err.status !== 401) throw err;
      const previous = await this.deps.rotations.previous(source, current, now);
      if (previous === undefined) throw err;
      const events = await pushed.accept(source, request, previous, now).catch(() => Promise.reject(err));
      this.deps.grace.acceptedInGrace(source);
      // Once per rotation: a sender not yet moved would otherwise log a line per request.
      if (this.deps.rotations.firstGraceUse(sourceKey(source)))
        this.deps.log.info(
          "accepting pushed requests signed with a trigger's previous secret, in its grace; " +
            'each is counted in nimbus_source_secret_grace_accepted_total',
          { trigger: sourceKey(source) },
        );
      return events;
    }
  }

  /** The events whose ids were not stored before. */
  private async unseen<T extends { id: string }>(key: string, events: readonly T[]): Promise<T[]> {
    const held = await Promise.all(events.map((e) => this.deps.seen.holder(seenKey(key, e.id))));
    return events.filter((_, i) => held[i] === undefined);
  }

  /** The pushed trigger a path names; 404 (the same for any kind of miss) otherwise. */
  private sourceAt(path: string): ResolvedSource {
    const [namespace = '', fn = '', trigger = '', ...rest] = path.slice(WEBHOOK_PREFIX.length).split('/');
    if (rest.length > 0 || !isNamespace(namespace) || !LABEL.test(fn) || !LABEL.test(trigger))
      throw noWebhook(path);
    const resource = declaredFunction(this.deps.directory, namespace, fn);
    const source =
      resource === undefined || resource.metadata.deletionTimestamp !== undefined
        ? undefined
        : sourceTriggersOf(resource).find((s) => s.name === trigger);
    if (source === undefined) throw noWebhook(path);
    return source;
  }
}

/** How long a pushed event's id is remembered. */
const SEEN_MS = 24 * 60 * 60 * 1000;

const seenKey = (key: string, id: string): string =>
  `pushed-seen:${key}:${createHash('sha256').update(id).digest('base64url')}`;

function noWebhook(path: string): Problem {
  return new Problem(404, 'WebhookNotFound', `no webhook at ${path.slice(0, 200)}`);
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
