import { setMaxListeners } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ObjectEventKind } from '@nimbus/api';
import { backoffDelay } from '@nimbus/api/backoff';
import { sleep } from '@nimbus/api/clock';
import { SourceConfigError, type SourceContext, type SourceEvent, type SourceReader } from '../source.js';
import { accessError } from './access-error.js';
import { redact, s3Client } from './client.js';
import { type S3Credentials, type S3Target, credentialsOf, pollIntervalOf, targetOf } from './config.js';
import { type ObjectFilter, filterOf, watchesKey } from './filter.js';
import { type ObjectVersion, contentTypeOf, listObjects } from './listing.js';
import { objectEvent } from './object-event.js';
import { runLimited } from './run-limited.js';
import { BASELINE, type ViewChange, baselineEntry, changesBetween, encodeVersion } from './view.js';

export interface PollerOptions {
  /** Changes handed on between two checkpoint writes. */
  readonly batch: number;
  /** HeadObject requests and stores in flight at once. */
  readonly concurrency: number;
  /** Objects the view may hold (the checkpoint's own bound is 1,000,000). */
  readonly maxObjects: number;
}

export const DEFAULT_POLLER_OPTIONS: PollerOptions = { batch: 500, concurrency: 16, maxObjects: 1_000_000 };

/**
 * Mode poll: lists the bucket every pollInterval and compares the listing with its view (the
 * trigger's checkpoint). New and changed keys are `created`, keys gone are `deleted`; each change
 * is stored first and written into the view only once the sink has it, a batch at a time, so a
 * crash in between repeats the change with the same id (the durable path drops the copy) and
 * never loses it. The first listing of a trigger (an empty view) is taken in without events: a new
 * trigger does not fire for the bucket's whole history, only for what changes after it started.
 * A created event carries the content type, which a listing lacks: one HeadObject per new key,
 * `concurrency` at a time (for 5,000 new objects, 5,000 HEADs).
 */
export class S3Poller implements SourceReader {
  private readonly target: S3Target;
  private readonly filter: ObjectFilter;
  private readonly pollMs: number;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private client: { s3: S3Client; credentials: S3Credentials } | undefined;

  constructor(
    private readonly context: SourceContext<'s3'>,
    private readonly options: PollerOptions = DEFAULT_POLLER_OPTIONS,
  ) {
    this.target = targetOf(context.source);
    this.filter = filterOf(context.source.spec);
    this.pollMs = pollIntervalOf(context.source);
    // Every request in flight (up to `concurrency` HEADs, a few listeners each) listens for the stop.
    setMaxListeners(options.concurrency * 4 + 8, this.stopping.signal);
  }

  start(): void {
    if (this.running !== undefined || this.stopping.signal.aborted) return;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
    this.client?.s3.destroy();
    this.client = undefined;
    this.context.sink.report({ connected: false });
  }

  private async loop(): Promise<void> {
    const { sink, log, clock } = this.context;
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      let wait = this.pollMs;
      try {
        await this.poll();
        if (failures > 0) log.info('listing the bucket again', { bucket: this.target.bucket });
        failures = 0;
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        failures++;
        const lastError = this.say(err);
        sink.report({ connected: false, lastError });
        if (failures === 1)
          log.warn('polling the bucket failed; retrying with backoff', { error: lastError });
        // Keys the store refused are read again, in case the Secret changed.
        if (err instanceof SourceConfigError) this.client = undefined;
        wait = backoffDelay({ baseMs: 500, maxMs: Math.max(this.pollMs, 30_000), jitter: 'equal' }, failures);
      }
      await sleep(clock, wait, this.stopping.signal);
    }
  }

  /** One listing compared with the view; resolves once every change is stored and in the view. */
  async poll(): Promise<void> {
    const { source, checkpoint, sink, clock } = this.context;
    const { s3, credentials } = await this.connect();
    const view = await checkpoint.entries();
    const signal = this.stopping.signal;
    let listing: Map<string, ObjectVersion>;
    try {
      listing = await listObjects(s3, this.target.bucket, {
        prefix: this.filter.prefix,
        keep: (key) => watchesKey(this.filter, key),
        maxObjects: this.options.maxObjects,
        signal,
      });
    } catch (err) {
      throw accessError(source, `listing bucket ${this.target.bucket}`, err, credentials);
    }
    const listedAt = clock.now();
    if (!view.has(BASELINE)) {
      await this.takeIn(listing);
      sink.report({ connected: true, backlog: 0 });
      return;
    }
    // Keys the trigger no longer watches (its prefix or suffix changed) leave the view without an event.
    const unwatched = [...view.keys()].filter((key) => key !== BASELINE && !watchesKey(this.filter, key));
    if (unwatched.length > 0) await checkpoint.delete(unwatched);
    for (const key of unwatched) view.delete(key);
    const changes = changesBetween(view, listing);
    for (let i = 0; i < changes.length && !signal.aborted; i += this.options.batch) {
      sink.report({ connected: true, backlog: changes.length - i });
      await this.handOn(s3, credentials, changes.slice(i, i + this.options.batch), listedAt);
    }
    sink.report({ connected: true, backlog: 0 });
  }

  /** The first listing becomes the view, 10,000 keys a write, the BASELINE marker last. */
  private async takeIn(listing: Map<string, ObjectVersion>): Promise<void> {
    const entries = [...listing].map(([key, version]): [string, string] => [key, encodeVersion(version)]);
    // What an earlier attempt cut short left behind is not a view: it goes.
    await this.context.checkpoint.clear();
    for (let i = 0; i < entries.length; i += 10_000)
      await this.context.checkpoint.set(new Map(entries.slice(i, i + 10_000)));
    await this.context.checkpoint.set(new Map([baselineEntry()]));
    this.context.log.info('took the bucket in as it is: events start with the next change', {
      bucket: this.target.bucket,
      objects: listing.size,
    });
  }

  /**
   * Stores the events of one batch of changes, then writes into the view the changes the sink
   * took. New versions go into the view as pending first, so that an object whose store is cut
   * short by a crash is still known if it goes before the next poll. A change that is not wanted
   * (events: [deleted] and a new key) goes into the view without an event. The first failure is
   * thrown once the rest have settled.
   */
  private async handOn(s3: S3Client, credentials: S3Credentials, changes: ViewChange[], listedAt: number) {
    const { source, sink, checkpoint } = this.context;
    const signal = this.stopping.signal;
    const wants = (kind: ObjectEventKind) => this.filter.events.has(kind);
    if (wants('created')) {
      const pending = changes
        .filter((c) => c.kind === 'created')
        .map((c) => [c.key, encodeVersion(c.version, true)]);
      if (pending.length > 0) await checkpoint.set(new Map(pending as [string, string][]));
    }
    const seen = new Map<string, string>();
    const gone: string[] = [];
    const failure = await runLimited(changes, this.options.concurrency, async (change) => {
      if (change.kind === 'created') {
        if (wants('created')) {
          let head: { contentType?: string } | undefined;
          try {
            head = await contentTypeOf(s3, this.target.bucket, change.key, signal);
          } catch (err) {
            throw accessError(source, `reading ${change.key}`, err, credentials);
          }
          if (head === undefined) return; // gone since the listing: the next poll says so
          await sink.store(this.event('created', change.key, change.version, head.contentType, listedAt));
        }
        seen.set(change.key, encodeVersion(change.version));
        return;
      }
      if (change.createdFirst && wants('created'))
        await sink.store(this.event('created', change.key, change.version, undefined, listedAt));
      if (wants('deleted'))
        await sink.store(this.event('deleted', change.key, change.version, undefined, listedAt));
      gone.push(change.key);
    });
    if (seen.size > 0) await checkpoint.set(seen);
    if (gone.length > 0) await checkpoint.delete(gone);
    if (failure !== undefined) throw failure;
  }

  /** A listed change as its event; the id hashes the version, so a change listed again is the same event. */
  private event(
    kind: ObjectEventKind,
    key: string,
    version: ObjectVersion,
    contentType: string | undefined,
    listedAt: number,
  ): SourceEvent {
    return objectEvent(this.target.source, {
      kind,
      bucket: this.target.bucket,
      key,
      size: version.size,
      etag: version.etag,
      ...(contentType === undefined ? {} : { contentType }),
      eventName: kind === 'created' ? 'ObjectCreated:*' : 'ObjectRemoved:*',
      // A listing says when an object was written, not when it went: then, the poll that saw it gone.
      eventTime: kind === 'created' ? version.modified : listedAt,
      identity: [version.etag, String(version.size), String(version.modified)],
    });
  }

  private async connect(): Promise<{ s3: S3Client; credentials: S3Credentials }> {
    if (this.client !== undefined) return this.client;
    const credentials = await credentialsOf(this.context.source, this.context.secrets);
    this.client = { s3: s3Client(this.target, credentials), credentials };
    return this.client;
  }

  /** The failure as health says it: a config error with its field, never a credential. */
  private say(err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    const text = err instanceof SourceConfigError ? `${err.field}: ${message}` : message;
    return redact(text, this.client?.credentials);
  }
}
