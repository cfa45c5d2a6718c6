import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Logger, ResolvedSource, S3Source, SecretKeyRef } from '@nimbus/api';
import { ManualClock, type S3Server, startS3Server } from '@nimbus/testkit';
import { S3Poller, s3Source } from '../src/s3/index.js';
import {
  type SecretReader,
  type SourceCheckpoint,
  SourceConfigError,
  type SourceContext,
  type SourceEvent,
  type SourceHealth,
  type SourceSink,
} from '../src/source.js';

// The SDK warns once per process that its releases after January 2027 need Node 22; tests run on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** An S3 trigger of function team-a/thumbnails, as sourceTriggersOf resolves it. */
export function s3Trigger(
  spec: Partial<S3Source> & Pick<S3Source, 'endpoint' | 'bucket'>,
): ResolvedSource<'s3'> {
  return {
    namespace: 'team-a',
    function: 'thumbnails',
    name: 'uploads',
    kind: 's3',
    spec: { credentials: { secret: 's3-keys' }, ...spec },
    maxDeliver: 5,
    backoffMs: [],
    concurrency: 16,
  };
}

/** The SecretReader port over a map of `secret/key` to value; a missing one is a SourceConfigError, as the platform's is. */
export class MapSecrets implements SecretReader {
  constructor(readonly values: Map<string, string>) {}

  static forServer(
    server: Pick<S3Server, 'accessKeyId' | 'secretAccessKey'>,
    token = 'notify-token-1',
  ): MapSecrets {
    return new MapSecrets(
      new Map([
        ['s3-keys/accessKeyId', server.accessKeyId],
        ['s3-keys/secretAccessKey', server.secretAccessKey],
        ['s3-notify/token', token],
      ]),
    );
  }

  async read(ref: SecretKeyRef): Promise<string> {
    const value = this.values.get(`${ref.name}/${ref.key}`);
    if (value === undefined)
      throw new SourceConfigError(`secret ${ref.name}`, `the Secret ${ref.name} has no key ${ref.key}`);
    return value;
  }
}

/**
 * The SourceSink port as the durable path behaves: stores every event, and keeps it once per id (as
 * JetStream's deduplication does) while counting every store. `failNext` makes the next stores reject.
 */
export class RecordingSink implements SourceSink {
  readonly stored: SourceEvent[] = [];
  readonly storesById = new Map<string, number>();
  readonly health: SourceHealth[] = [];
  failStores = 0;
  /** Runs once an event is stored, before the store resolves: where a test makes the next step fail. */
  afterStore: ((event: SourceEvent) => Promise<void>) | undefined;

  async store(event: SourceEvent): Promise<void> {
    if (this.failStores > 0) {
      this.failStores--;
      throw new Error('the durable path is down');
    }
    const count = this.storesById.get(event.id) ?? 0;
    this.storesById.set(event.id, count + 1);
    if (count === 0) this.stored.push(event);
    await this.afterStore?.(event);
  }

  /** Ids stored more than once: repeats the durable path dropped. */
  repeats(): string[] {
    return [...this.storesById].filter(([, n]) => n > 1).map(([id]) => id);
  }

  async deliver(): Promise<void> {
    throw new Error('the s3 source never delivers itself');
  }

  report(health: SourceHealth): void {
    this.health.push(health);
  }

  get lastHealth(): SourceHealth | undefined {
    return this.health.at(-1);
  }

  /** Stored events as `kind key`, in the order stored. */
  summary(): string[] {
    return this.stored.map((e) => `${e.type.split('.').at(-1)} ${dataOf(e).key}`);
  }
}

export interface ObjectData {
  bucket: string;
  key: string;
  size: number;
  etag: string | null;
  contentType?: string;
  eventName: string;
  eventTime: string;
}

export function dataOf(event: SourceEvent): ObjectData {
  return JSON.parse(Buffer.from(event.data).toString('utf8')) as ObjectData;
}

export const quietLog: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quietLog,
};

/** The uploader's side: a plain S3 client with the server's root keys. */
export class Uploader {
  readonly client: S3Client;

  constructor(server: S3Server) {
    this.client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
  }

  async bucket(name: string): Promise<void> {
    await this.client.send(new CreateBucketCommand({ Bucket: name }));
  }

  async put(bucket: string, key: string, body: string, contentType?: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ...(contentType ? { ContentType: contentType } : {}),
      }),
    );
  }

  async delete(bucket: string, key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }

  close(): void {
    this.client.destroy();
  }
}

/** Pollers a test made, each with its sink and clock; all stopped in afterEach. */
export class Pollers {
  private readonly made: S3Poller[] = [];

  make(
    source: ResolvedSource<'s3'>,
    checkpoint: SourceCheckpoint,
    options: { sink?: RecordingSink; clock?: ManualClock; secrets: SecretReader },
  ): { reader: S3Poller; sink: RecordingSink; clock: ManualClock } {
    const sink = options.sink ?? new RecordingSink();
    const clock = options.clock ?? new ManualClock(Date.now());
    const context: SourceContext<'s3'> = {
      source,
      secrets: options.secrets,
      sink,
      checkpoint,
      clock,
      log: quietLog,
    };
    const reader = s3Source.reader?.(context);
    if (!(reader instanceof S3Poller)) throw new Error('mode poll has no poller');
    this.made.push(reader);
    return { reader, sink, clock };
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.made.splice(0).map((p) => p.stop()));
  }
}

/** What a suite of tests against one versitygw shares; `bucket` is a fresh one for each test. */
export interface S3Suite {
  s3: S3Server;
  uploader: Uploader;
  secrets: MapSecrets;
  bucket: string;
  readonly pollers: Pollers;
}

/**
 * Registers the hooks of a suite against its own versitygw: started before (the first run builds
 * it, about 6 minutes on 2 cores), a new bucket `<prefix>-<n>` before each test, the test's pollers
 * stopped after it, the server stopped by PID at the end.
 */
export function s3Suite(bucketPrefix: string): S3Suite {
  const suite = { pollers: new Pollers() } as S3Suite;
  let buckets = 0;
  before(async function () {
    this.timeout(15 * 60_000);
    suite.s3 = await startS3Server();
    suite.uploader = new Uploader(suite.s3);
    suite.secrets = MapSecrets.forServer(suite.s3);
  });
  beforeEach(async () => {
    suite.bucket = `${bucketPrefix}-${++buckets}`;
    await suite.uploader.bucket(suite.bucket);
  });
  afterEach(() => suite.pollers.stopAll());
  after(async () => {
    suite.uploader?.close();
    await suite.s3?.stop();
  });
  return suite;
}
