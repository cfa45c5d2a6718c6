import { type Logger, type PostgresSource, type ResolvedSource, createLogger } from '@nimbus/api';
import { ManualClock, type PostgresServer, startPostgresServer } from '@nimbus/testkit';
import type pg from 'pg';
import { connectClient, parseConnectionUrl } from '../src/postgres/connection.js';
import { PostgresReader } from '../src/postgres/reader.js';
import type { SecretReader, SourceEvent, SourceHealth, SourceSink } from '../src/source.js';

/** A SourceSink that keeps what it is given; `store` does what `storing` says (resolve by default). */
export class RecordingSink implements SourceSink {
  readonly stored: SourceEvent[] = [];
  readonly offered: SourceEvent[] = [];
  readonly health: SourceHealth[] = [];
  storing: (event: SourceEvent) => Promise<void> = async () => {};

  async store(event: SourceEvent): Promise<void> {
    this.offered.push(event);
    await this.storing(event);
    this.stored.push(event);
  }

  deliver(): Promise<void> {
    return Promise.reject(new Error('the postgres source never calls deliver'));
  }

  report(health: SourceHealth): void {
    this.health.push(health);
  }

  get lastHealth(): SourceHealth | undefined {
    return this.health.at(-1);
  }

  /** Each stored event's data, parsed. */
  rows(): ChangeData[] {
    return this.stored.map(dataOf);
  }
}

export interface ChangeData {
  operation: string;
  schema: string;
  table: string;
  new: Record<string, unknown> | null;
  old?: Record<string, unknown>;
  unchanged?: string[];
  lsn: string;
  commitTime: string;
}

export function dataOf(event: SourceEvent): ChangeData {
  return JSON.parse(new TextDecoder().decode(event.data)) as ChangeData;
}

/** A SecretReader whose one Secret holds `url`. */
export function secretHolding(url: string): SecretReader {
  return { read: async () => url };
}

export function postgresTrigger(
  name: string,
  spec: Omit<PostgresSource, 'connection'>,
  fn = 'orders-fn',
): ResolvedSource<'postgres'> {
  return {
    namespace: 'shop',
    function: fn,
    name,
    kind: 'postgres',
    spec: { connection: { name: 'orders-db', key: 'url' }, ...spec },
    maxDeliver: 5,
    backoffMs: [],
    concurrency: 1,
  };
}

/** A logger that keeps its lines, so a test can look for what must never be logged. */
export function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({}, 'debug', (line) => lines.push(line)), lines };
}

/** A plain connection to `url`, whose lost-connection errors come from its queries, not as a crash. */
export function connectPg(url: string): Promise<pg.Client> {
  return connectClient(parseConnectionUrl(url, 'url'), { replication: false });
}

/** The readers a suite started, each on a manual clock unless given one; `stopAll` after each test. */
export class Readers {
  private readonly running: PostgresReader[] = [];

  /** `defaultUrl`: the connection a reader started without `secrets` reads. */
  constructor(private readonly defaultUrl: () => string) {}

  start(
    source: ResolvedSource<'postgres'>,
    sink: RecordingSink,
    options: { secrets?: SecretReader; clock?: ManualClock; log?: ReturnType<typeof recordingLogger> } = {},
  ): PostgresReader {
    const reader = new PostgresReader(
      {
        source,
        secrets: options.secrets ?? secretHolding(this.defaultUrl()),
        sink,
        checkpoint: undefined as never, // the postgres source keeps its position in the slot
        clock: options.clock ?? new ManualClock(Date.now()),
        log: (options.log ?? recordingLogger()).log,
      },
      { random: () => 0.5 },
    );
    this.running.push(reader);
    reader.start();
    return reader;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.splice(0).map((r) => r.stop()));
  }
}

/** Where the slot is confirmed, as an LSN text, or undefined when it does not exist. */
export async function confirmedFlush(server: PostgresServer, slot: string): Promise<string | undefined> {
  const out = await server.sql(
    `SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '${slot}'`,
  );
  return out === '' ? undefined : out;
}

/** Inside a describe: one PostgreSQL for the suite, and the readers a test started stopped after it. */
export function usePostgres(): { readonly server: PostgresServer; readonly readers: Readers } {
  let server: PostgresServer | undefined;
  const readers = new Readers(() => {
    if (server === undefined) throw new Error('the suite has no PostgreSQL yet');
    return server.url();
  });
  before(async () => {
    server = await startPostgresServer();
  });
  afterEach(() => readers.stopAll());
  after(async () => server?.stop());
  return {
    get server() {
      if (server === undefined) throw new Error('the suite has no PostgreSQL yet');
      return server;
    },
    readers,
  };
}
