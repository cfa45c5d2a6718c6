/**
 * The runtime's own routes (`/_/health`, `/_/ready`, `/_/metrics`, `/_/specialise`) live under
 * `/_/`. They are for the platform (probes, the controller), never for callers: the gateway
 * refuses to forward a path that reaches them, and the runtime refuses a disguised spelling of
 * one. Both ask this module, so what the gateway lets through and what the runtime treats as
 * internal cannot drift apart.
 */

/** The first path segment of every internal route. */
export const INTERNAL_SEGMENT = '_';

/** Rounds of percent-decoding: `%255F` is `%5F` after one and `_` after two. */
const DECODE_ROUNDS = 3;

/** Outside printable ASCII: Unicode that compatibility folding may turn into `_` (U+FF3F, U+FE4D…U+FE4F). */
const NON_ASCII = /[^\u0020-\u007e]/;

/**
 * Whether `path` (a request path as sent, optionally with a query) names an internal route under
 * some reading a server, proxy or framework may give it: percent-decoded (repeatedly), `\` taken
 * as `/`, Unicode compatibility forms folded, `;params` dropped from segments, empty and `.` segments dropped and `..` resolved. A
 * path is internal when the first segment left is `_`. Pure.
 */
export function reachesInternalRoute(path: string): boolean {
  let text = withoutQuery(path);
  // The hot path of every invocation: no `_` in any spelling, nothing to normalise.
  if (!text.includes('_') && !text.includes('%') && !NON_ASCII.test(text)) return false;
  for (let round = 0; round < DECODE_ROUNDS && text.includes('%'); round++) {
    const decoded = decodeLoosely(text);
    if (decoded === text) break;
    text = decoded;
  }
  const segments: string[] = [];
  for (const raw of text.replaceAll('\\', '/').split('/')) {
    const semicolon = raw.indexOf(';');
    // NFKC: a fullwidth low line (U+FF3F) becomes `_` in a server that normalises Unicode.
    const segment = (semicolon === -1 ? raw : raw.slice(0, semicolon)).trim().normalize('NFKC');
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return segments[0] === INTERNAL_SEGMENT;
}

/** The literal spelling of an internal route: `/_` or `/_/…`, as the runtime matches it. */
export function isLiteralInternalPath(path: string): boolean {
  const bare = withoutQuery(path);
  return bare === '/_' || bare.startsWith('/_/');
}

function withoutQuery(path: string): string {
  let end = path.length;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) {
      end = i;
      break;
    }
  }
  return path.slice(0, end);
}

/** Decodes as UTF-8; with a malformed escape somewhere, every valid `%XX` on its own and the rest as is. */
function decodeLoosely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
  }
}
