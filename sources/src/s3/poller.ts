import { setMaxListeners } from 'node:events';
import type { ObjectEventKind } from '@nimbus/api';
import { backoffDelay } from '@nimbus/api/backoff';
import { sleep } from '@nimbus/api/clock';
import { SourceConfigError, type SourceContext, type SourceEvent, type SourceReader } from '../source.js';
import { accessError } from './access-error.js';
import { redact } from './client.js';
import { type S3Credentials, type S3Target, credentialsOf, pollIntervalOf, targetOf } from './config.js';
import { type ObjectFilter, filterOf, watchesKey } from './filter.js';
import { ObjectHeads } from './head-object.js';
import { type ObjectVersion, listPages } from './listing.js';
import { objectEvent } from './object-event.js';
import { runLimited } from './run-limited.js';
import { SignedRequests } from './signed-requests.js';
import { BASELINE, type ViewChange, baselineEntry, createdIn, deletedSince, encodeVersion } from './view.js';

export interface PollerOptions {
  /** Changes handed on between two checkpoint writes. */
  readonly batch: number;
  /** HeadObject requests and stores in flight at once. */
  readonly concurrency: number;
  /** Objects the view may hold (the checkpoint's own bound is 1,000,000). */
  readonly maxObjects: number;
}

/** The store as one reader reaches it, made with the keys read from the trigger's Secret. */
interface Connection {
  readonly requests: SignedRequests;
  readonly heads: ObjectHeads;
  readonly credentials: S3Credentials;
}

export const DEFAULT_POLLER_OPTIONS: PollerOptions = { batch: 500, concurrency: 16, maxObjects: 1_000_000 };

/**
 * Mode poll: lists the bucket every pollInterval and compares the listing with its view (the
 * trigger's checkpoint). New and changed keys are `created`, keys gone are `deleted`; each change
 * is stored first and written into the view only once the sink has it, a batch at a time, so a
 * crash in between repeats the change with the same id (the durable path drops the copy) and
 * never loses it. The first listing of a trigger (an empty view) is taken in without events: a new
 * trigger does not fire for the bucket's whole history, only for what changes after it started.
 *
 * What a pass costs: the view is read from the checkpoint once (and again after a failed pass, when
 * memory may be ahead of what was written), then kept in memory in step with every write, since
 * only the lease holder writes it. Changes are handed on page by page while the store lists the
 * next one, so the first events of a large backlog do not wait for the whole listing; keys gone
 * are known only once the listing is whole. ETag, size and time come from the listing; a created
 * event's content type, which a listing lacks, costs one HeadObject per new version, `concurrency`
 * at a time. A key cannot be skipped by listing from where the last pass ended (StartAfter): S3
 * lists in key order, and a new key may sort anywhere.
 */
export class S3Poller implements SourceReader {
  private readonly target: S3Target;
  private readonly filter: ObjectFilter;
  private readonly pollMs: number;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private client: Connection | undefined;
  /** The checkpoint as this reader last wrote it; undefined until read, and after a failed pass. */
  private view: Map<string, string> | undefined;

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
    this.forget();
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
        if (err instanceof SourceConfigError) this.forget();
        wait = backoffDelay({ baseMs: 500, maxMs: Math.max(this.pollMs, 30_000), jitter: 'equal' }, failures);
      }
      await sleep(clock, wait, this.stopping.signal);
    }
  }

  /** One listing compared with the view; resolves once every change is stored and in the view. */
  async poll(): Promise<void> {
    try {
      await this.pass();
    } catch (err) {
      // What the checkpoint holds is what counts: read it again before the next pass.
      this.view = undefined;
      throw err;
    }
  }

  private async pass(): Promise<void> {
    const { sink, clock } = this.context;
    const view = this.view ?? (await this.readView());
    this.view = view;
    if (!view.has(BASELINE)) {
      await this.takeIn();
      sink.report({ connected: true, backlog: 0 });
      return;
    }
    const listed = new Set<string>();
    await this.eachPage(async (page) => {
      for (const key of page.keys()) listed.add(key);
      await this.handAll(createdIn(view, page));
    });
    if (this.stopping.signal.aborted) return;
    const listedAt = clock.now();
    await this.handAll(deletedSince(view, listed), listedAt);
    sink.report({ connected: true, backlog: 0 });
  }

  /** The checkpoint, without keys the trigger no longer watches (its prefix or suffix changed): they leave without an event. */
  private async readView(): Promise<Map<string, string>> {
    const view = await this.context.checkpoint.entries();
    const unwatched = [...view.keys()].filter((key) => key !== BASELINE && !watchesKey(this.filter, key));
    if (unwatched.length > 0) await this.context.checkpoint.delete(unwatched);
    for (const key of unwatched) view.delete(key);
    return view;
  }

  /** Runs `work` on each page of the listing in turn; a failed listing is said as accessError says it. */
  private async eachPage(work: (page: Map<string, ObjectVersion>) => Promise<void>): Promise<void> {
    const { requests, credentials } = await this.connect();
    const pages = listPages(requests, {
      prefix: this.filter.prefix,
      keep: (key) => watchesKey(this.filter, key),
      maxObjects: this.options.maxObjects,
      signal: this.stopping.signal,
    });
    for (;;) {
      let next: IteratorResult<Map<string, ObjectVersion>>;
      try {
        next = await pages.next();
      } catch (err) {
        throw accessError(this.context.source, `listing bucket ${this.target.bucket}`, err, credentials);
      }
      if (next.done || this.stopping.signal.aborted) return;
      await work(next.value);
    }
  }

  /** Hands the changes on a batch at a time, saying the backlog, until done or stopped. */
  private async handAll(changes: readonly ViewChange[], listedAt = this.context.clock.now()): Promise<void> {
    for (let i = 0; i < changes.length && !this.stopping.signal.aborted; i += this.options.batch) {
      this.context.sink.report({ connected: true, backlog: changes.length - i });
      await this.handOn(changes.slice(i, i + this.options.batch), listedAt);
    }
  }

  /** The first listing becomes the view, 10,000 keys a write, the BASELINE marker last. */
  private async takeIn(): Promise<void> {
    const { checkpoint, log } = this.context;
    const listing = new Map<string, string>();
    await this.eachPage(async (page) => {
      for (const [key, version] of page) listing.set(key, encodeVersion(version));
    });
    if (this.stopping.signal.aborted) return;
    const entries = [...listing];
    // What an earlier attempt cut short left behind is not a view: it goes.
    await checkpoint.clear();
    for (let i = 0; i < entries.length; i += 10_000)
      await checkpoint.set(new Map(entries.slice(i, i + 10_000)));
    await checkpoint.set(new Map([baselineEntry()]));
    this.view = new Map([...entries, baselineEntry()]);
    log.info('took the bucket in as it is: events start with the next change', {
      bucket: this.target.bucket,
      objects: listing.size,
    });
  }

  /**
   * Stores the events of one batch of changes, then writes into the view the changes the sink
   * took. New versions go into the view as pending first, so that an object whose store is cut
   * short by a crash is still known if it goes before the next poll. A change that is not wanted
   * (events: [deleted] and a new key) goes into the view without an event. The first failure is
   * thrown once the rest have settled. The view in memory takes each write once it is made.
   */
  private async handOn(changes: ViewChange[], listedAt: number) {
    const { source, sink } = this.context;
    const { heads, credentials } = await this.connect();
    const signal = this.stopping.signal;
    const wants = (kind: ObjectEventKind) => this.filter.events.has(kind);
    if (wants('created')) {
      const pending = new Map(
        changes
          .filter((c) => c.kind === 'created')
          .map((c): [string, string] => [c.key, encodeVersion(c.version, true)]),
      );
      if (pending.size > 0) await this.write(pending);
    }
    const seen = new Map<string, string>();
    const gone: string[] = [];
    const failure = await runLimited(changes, this.options.concurrency, async (change) => {
      if (change.kind === 'created') {
        if (wants('created')) {
          let head: { contentType?: string } | undefined;
          try {
            head = await heads.contentTypeOf(change.key, signal);
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
    if (seen.size > 0) await this.write(seen);
    if (gone.length > 0) {
      await this.context.checkpoint.delete(gone);
      for (const key of gone) this.view?.delete(key);
    }
    if (failure !== undefined) throw failure;
  }

  /** Writes fields into the checkpoint, then into the view in memory. */
  private async write(fields: ReadonlyMap<string, string>): Promise<void> {
    await this.context.checkpoint.set(fields);
    for (const [key, value] of fields) this.view?.set(key, value);
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

  private async connect(): Promise<Connection> {
    if (this.client !== undefined) return this.client;
    const credentials = await credentialsOf(this.context.source, this.context.secrets);
    // A socket for each HEAD in flight and one for the next page of a listing.
    const requests = new SignedRequests(this.target, credentials, this.options.concurrency + 1);
    this.client = { requests, heads: new ObjectHeads(requests), credentials };
    return this.client;
  }

  private forget(): void {
    this.client?.requests.close();
    this.client = undefined;
  }

  /** The failure as health says it: a config error with its field, never a credential. */
  private say(err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    const text = err instanceof SourceConfigError ? `${err.field}: ${message}` : message;
    return redact(text, this.client?.credentials);
  }
}
