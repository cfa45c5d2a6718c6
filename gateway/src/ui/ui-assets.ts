import { readFileSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { problems, sendProblem } from '../http/problems.js';

export const UI_PREFIX = '/ui';

/** gateway/ui: the page's own files, served as they are in the repository (no build step). */
const PAGE_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Headers on every /ui answer. The page shows what function authors and callers wrote (log
 * lines, error messages, names), so a slip in rendering must not become a script: no inline
 * script or style, no eval, nothing from another origin; fetches to this gateway only; never in a
 * frame (clickjacking the redrive and delete buttons); no Referer to carry the page's address off.
 */
export const UI_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // Small files, checked again each load: a new gateway's page is never mixed with an old one's.
  'cache-control': 'no-cache',
});

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The dashboard's static files. They hold no data (that comes from the admin-only JSON under
 * /system, with the key the page is given), so they are served without a key. All are read into
 * memory once, about 100 KB: a request is a map lookup, and no part of its path ever reaches the
 * file system.
 */
export class UiAssets {
  private readonly assets = new Map<string, Asset>();

  constructor() {
    for (const file of readdirSync(PAGE_DIR)) this.add(`${UI_PREFIX}/${file}`, join(PAGE_DIR, file));
    const index = this.assets.get(`${UI_PREFIX}/index.html`);
    if (index === undefined) throw new Error(`the dashboard's index.html is missing from ${PAGE_DIR}`);
    this.assets.set(UI_PREFIX, index);
    this.assets.set(`${UI_PREFIX}/`, index);
    // uPlot from the gateway's own dependencies: nothing is loaded from outside.
    const require = createRequire(import.meta.url);
    this.add(`${UI_PREFIX}/vendor/uPlot.esm.js`, require.resolve('uplot/dist/uPlot.esm.js'));
    this.add(`${UI_PREFIX}/vendor/uPlot.min.css`, require.resolve('uplot/dist/uPlot.min.css'));
  }

  /** A file of a type the page uses; others (a README, an editor's backup) are not served. */
  private add(path: string, file: string): void {
    const type = CONTENT_TYPES[extname(file)];
    if (type !== undefined) this.assets.set(path, { body: readFileSync(file), type });
  }

  /** For paths at or under /ui. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?', 1)[0] as string;
    const asset = this.assets.get(path);
    for (const [name, value] of Object.entries(UI_HEADERS)) res.setHeader(name, value);
    if (asset === undefined) {
      sendProblem(res, problems.routeNotFound(path));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(res, problems.methodNotAllowed('the dashboard is read with GET', 'GET, HEAD'));
      return;
    }
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }
}
