import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions, request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError } from './errors.js';
import { type KubeList, type KubeObject, type ResourceType, resourcePath } from './resources.js';

export interface RequestOptionsIn {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** What to ask the server for instead of application/json. */
  accept?: string;
  signal?: AbortSignal;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion: string;
  timeoutSeconds: number;
  signal: AbortSignal;
}

/** Credentials are read again after this long, so rotated service-account tokens are picked up. */
const AUTH_TTL_MS = 30_000;
/** A request the API server does not answer within this time fails (watches excepted). */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A small REST client for the API server. @kubernetes/client-node supplies the kubeconfig and the
 * credentials (service-account token files, exec plugins, client certificates); requests go out
 * over one keep-alive agent, and watches stream line by line, so the informers built on this
 * decide for themselves when to relist and how to back off.
 */
export class KubeClient {
  private readonly server: URL;
  private agent: HttpAgent | undefined;
  private auth: { options: RequestOptions; expires: number } | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly now: () => number = Date.now,
  ) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig names no current cluster');
    this.server = new URL(cluster.server);
  }

  get serverUrl(): string {
    return this.server.origin;
  }

  async get<T extends KubeObject>(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T> {
    return this.request<T>('GET', resourcePath(resource, namespace, name));
  }

  /**
   * An object's metadata alone (a PartialObjectMetadata): its labels and annotations without its
   * content, so checking a Secret's labels never brings its data into this process. Needs `get`.
   */
  async getMetadata(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<KubeObject> {
    return this.request<KubeObject>('GET', resourcePath(resource, namespace, name), {
      accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json',
    });
  }

  /** One page of a list; `continue` in the result's metadata asks for the next. */
  async list<T extends KubeObject>(resource: ResourceType, options: ListOptions = {}): Promise<KubeList<T>> {
    const { namespace, ...query } = options;
    return this.request<KubeList<T>>('GET', resourcePath(resource, namespace), { query: { ...query } });
  }

  async create<T extends KubeObject>(resource: ResourceType, object: T, dryRun = false): Promise<T> {
    const path = resourcePath(resource, object.metadata.namespace);
    return this.request<T>('POST', path, { body: object, query: { dryRun: dryRun ? 'All' : undefined } });
  }

  /** PUT: replaces the object; its metadata.resourceVersion makes the write conditional. */
  async replace<T extends KubeObject>(resource: ResourceType, object: T, subresource?: string): Promise<T> {
    const { namespace, name } = object.metadata;
    return this.request<T>('PUT', resourcePath(resource, namespace, name, subresource), { body: object });
  }

  /**
   * Server-side apply: the object holds exactly the fields this field manager owns; fields it
   * held before and leaves out are removed, fields others own are left alone. `force` takes over
   * fields another manager set (a hand edit of a field Nimbus owns is put back).
   */
  async apply<T extends KubeObject>(
    resource: ResourceType,
    object: KubeObject,
    fieldManager: string,
    options: { subresource?: string; force?: boolean } = {},
  ): Promise<T> {
    const { namespace, name } = object.metadata;
    if (name === undefined) throw new Error(`apply of a ${resource.kind} without a name`);
    return this.request<T>('PATCH', resourcePath(resource, namespace, name, options.subresource), {
      body: object,
      // JSON is YAML, so the apply patch can be sent as JSON.
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager, force: options.force ?? true },
    });
  }

  /** JSON merge patch; `fieldManager` names who set the fields in managedFields (an Update). */
  async mergePatch<T extends KubeObject>(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource?: string,
    fieldManager?: string,
  ): Promise<T> {
    return this.request<T>('PATCH', resourcePath(resource, namespace, name, subresource), {
      body: patch,
      contentType: 'application/merge-patch+json',
      query: { fieldManager },
    });
  }

  /** JSON Patch (RFC 6902): with a `test` operation, a write that holds only if nothing moved. */
  async jsonPatch<T extends KubeObject>(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    operations: unknown[],
  ): Promise<T> {
    return this.request<T>('PATCH', resourcePath(resource, namespace, name), {
      body: operations,
      contentType: 'application/json-patch+json',
    });
  }

  async delete(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    options: {
      uid?: string;
      /** Delete only the version seen: a change since answers 409 Conflict. */
      resourceVersion?: string;
      gracePeriodSeconds?: number;
      propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
    } = {},
  ): Promise<void> {
    const { uid, resourceVersion, gracePeriodSeconds, propagationPolicy } = options;
    const preconditions = {
      ...(uid === undefined ? {} : { uid }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    };
    await this.request('DELETE', resourcePath(resource, namespace, name), {
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        ...(Object.keys(preconditions).length === 0 ? {} : { preconditions }),
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        ...(propagationPolicy === undefined ? {} : { propagationPolicy }),
      },
    });
  }

  async request<T>(method: string, path: string, options: RequestOptionsIn = {}): Promise<T> {
    const res = await this.send(method, path, options, REQUEST_TIMEOUT_MS);
    const text = await readText(res);
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Some endpoints (/healthz) and some failures answer plain text.
    }
    const code = res.statusCode ?? 0;
    if (code >= 400) throw KubeApiError.fromResponse(method, path, code, body);
    return body as T;
  }

  /**
   * Streams a watch. Resolves when the server ends it (its timeout) or the signal aborts;
   * rejects with KubeApiError when the server refuses it (410 Gone: relist). An ERROR event
   * inside the stream is handed to `onEvent` like any other.
   */
  async watch<T>(
    resource: ResourceType,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    const { namespace, signal, ...rest } = options;
    const path = resourcePath(resource, namespace);
    const query = { ...rest, watch: true, allowWatchBookmarks: true };
    // The server closes the watch after timeoutSeconds; a connection that goes quiet for
    // longer than that is dead and is cut here.
    const res = await this.send('GET', path, { query, signal }, (options.timeoutSeconds + 30) * 1000);
    if ((res.statusCode ?? 0) !== 200) throw await refusal('WATCH', path, res);
    await readLines(res, signal, (line) => {
      if (line.trim() === '') return;
      try {
        onEvent(JSON.parse(line) as WatchEvent<T>);
      } catch (err) {
        res.destroy(err as Error);
      }
    });
  }

  /**
   * Streams a text answer line by line (a pod's log): each line to `onLine`, without its newline.
   * Resolves when the server ends the answer or the signal aborts; rejects with KubeApiError when
   * the server refuses (the pod has no running container yet: 400). `timeoutMs` bounds a quiet
   * connection, not the whole stream.
   */
  async streamLines(
    path: string,
    options: {
      query?: Record<string, string | number | boolean | undefined>;
      signal: AbortSignal;
      timeoutMs: number;
    },
    onLine: (line: string) => void,
  ): Promise<void> {
    const res = await this.send(
      'GET',
      path,
      // The log endpoint answers text, but refuses to be asked for it by name: anything goes.
      { query: options.query ?? {}, signal: options.signal, accept: '*/*' },
      options.timeoutMs,
    );
    if ((res.statusCode ?? 0) !== 200) throw await refusal('GET', path, res);
    await readLines(res, options.signal, onLine, true);
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptionsIn,
    timeoutMs: number,
  ): Promise<IncomingMessage> {
    const auth = await this.credentials();
    const url = new URL(path, this.server);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {
      ...(auth.headers as Record<string, string>),
      accept: options.accept ?? 'application/json',
      'user-agent': 'nimbus/0.1.0',
    };
    if (payload !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const requestFn = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = requestFn(url, {
        ...auth,
        method,
        headers,
        agent: this.agent,
        signal: options.signal,
        timeout: timeoutMs,
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', (err) =>
        reject(
          new KubeApiError(0, 'Unreachable', `${method} ${path}: ${err.message}`, [], {
            cause: err,
          }),
        ),
      );
      req.on('response', resolve);
      req.end(payload);
    });
  }

  private async credentials(): Promise<RequestOptions> {
    if (this.auth !== undefined && this.auth.expires > this.now()) return this.auth.options;
    const options: RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(options);
    // applyToHTTPSOptions makes a new agent on every call: keep one, so connections are reused.
    const { agent: _, ...rest } = options;
    if (this.agent === undefined) {
      this.agent =
        this.server.protocol === 'http:'
          ? new HttpAgent({ keepAlive: true })
          : new HttpsAgent({
              keepAlive: true,
              ca: rest.ca,
              cert: rest.cert,
              key: rest.key,
              rejectUnauthorized: rest.rejectUnauthorized,
              servername: rest.servername,
            });
    }
    this.auth = { options: rest, expires: this.now() + AUTH_TTL_MS };
    return rest;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

/** The API server's refusal of a stream, as KubeApiError: its JSON Status when it sent one. */
async function refusal(method: string, path: string, res: IncomingMessage): Promise<KubeApiError> {
  const text = await readText(res);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return KubeApiError.fromResponse(method, path, res.statusCode ?? 0, body);
}

/**
 * Hands each line of a streamed answer to `onLine`, without its newline, until the server ends
 * it or `signal` aborts; `lastLine` also hands over what follows the last newline. A watch's
 * lines are events; a pod log's, text.
 */
function readLines(
  res: IncomingMessage,
  signal: AbortSignal,
  onLine: (line: string) => void,
  lastLine = false,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline !== -1 && !res.destroyed) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        onLine(line);
        newline = pending.indexOf('\n');
      }
    });
    res.on('end', () => {
      if (lastLine && pending !== '') onLine(pending);
      resolve();
    });
    res.on('close', () => resolve());
    res.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
  });
}

function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
