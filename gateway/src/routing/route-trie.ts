import type { TemplateSegment } from '@nimbus/api/route-claims';

/**
 * A segment trie of path templates. A request is matched on its raw path split at `/`, so an
 * encoded slash (`%2F`) stays inside its segment; only then is each segment percent-decoded, to
 * compare it with a literal or to hand it over as a parameter. Per segment a literal beats a
 * parameter, which beats a wildcard; a route that lists the method beats one that takes any.
 * The search backtracks, so `/a/{x}/c` failing on `/a/b/d` still finds `/{y}/b/d`.
 */

/** What a matched request carries on: the entry's value and its parameters, decoded. */
export interface TrieMatch<T> {
  value: T;
  /** Names in template order, beside their values. */
  names: readonly string[];
  values: string[];
}

export interface TrieEntry<T> {
  value: T;
  /** Upper-case; undefined for any method. */
  methods: ReadonlySet<string> | undefined;
  names: readonly string[];
}

class Node<T> {
  literals: Map<string, Node<T>> | undefined;
  param: Node<T> | undefined;
  /** Routes ending at this node. */
  here: TrieEntry<T>[] | undefined;
  /** Routes whose wildcard takes what follows this node, nothing included. */
  rest: TrieEntry<T>[] | undefined;
}

/** A path whose segments no route may be matched on: it would mean a different path to someone. */
export class RefusedPath {
  constructor(readonly why: string) {}
}

const allows = (entry: TrieEntry<unknown>, method: string): boolean =>
  entry.methods === undefined || entry.methods.has(method) || (method === 'HEAD' && entry.methods.has('GET'));

/** Listed methods first: a route that names the method is more specific than one that takes any. */
const byMethods = (a: TrieEntry<unknown>, b: TrieEntry<unknown>): number =>
  (a.methods === undefined ? 1 : 0) - (b.methods === undefined ? 1 : 0);

export class RouteTrie<T> {
  private readonly root = new Node<T>();
  size = 0;

  /** Adds a template; entries added earlier win ties, so add in claim order. */
  add(segments: readonly TemplateSegment[], entry: TrieEntry<T>): void {
    let node = this.root;
    for (const segment of segments) {
      if (segment.kind === 'rest') {
        node.rest = [...(node.rest ?? []), entry].sort(byMethods);
        this.size++;
        return;
      }
      if (segment.kind === 'param') node = node.param ??= new Node();
      else {
        node.literals ??= new Map();
        let next = node.literals.get(segment.value);
        if (next === undefined) {
          next = new Node();
          node.literals.set(segment.value, next);
        }
        node = next;
      }
    }
    node.here = [...(node.here ?? []), entry].sort(byMethods);
    this.size++;
  }

  /**
   * The most specific route for `segments` (a raw path without its leading `/`, split at `/`)
   * that takes `method`; `allow` collects the methods of routes whose path matched but whose
   * methods did not. Throws RefusedPath for a segment that does not decode.
   */
  match(segments: readonly string[], method: string, allow: Set<string>): TrieMatch<T> | undefined {
    const values: string[] = [];
    return this.walk(this.root, segments, 0, method, values, allow);
  }

  private walk(
    node: Node<T>,
    segments: readonly string[],
    i: number,
    method: string,
    values: string[],
    allow: Set<string>,
  ): TrieMatch<T> | undefined {
    if (i === segments.length) {
      const found = pick(node.here, method, values, allow) ?? pick(node.rest, method, [...values, ''], allow);
      return found;
    }
    const raw = segments[i] as string;
    if (raw !== '') {
      const decoded = raw.includes('%') ? decodeSegment(raw) : raw;
      const literal = node.literals?.get(decoded);
      if (literal !== undefined) {
        const found = this.walk(literal, segments, i + 1, method, values, allow);
        if (found !== undefined) return found;
      }
      if (node.param !== undefined) {
        values.push(decoded);
        const found = this.walk(node.param, segments, i + 1, method, values, allow);
        if (found !== undefined) return found;
        values.pop();
      }
    }
    if (node.rest === undefined) return undefined;
    const rest = segments.slice(i).map((s) => (s.includes('%') ? decodeSegment(s) : s));
    return pick(node.rest, method, [...values, rest.join('/')], allow);
  }
}

function pick<T>(
  entries: TrieEntry<T>[] | undefined,
  method: string,
  values: string[],
  allow: Set<string>,
): TrieMatch<T> | undefined {
  if (entries === undefined) return undefined;
  for (const entry of entries) {
    if (allows(entry, method)) return { value: entry.value, names: entry.names, values };
    for (const m of entry.methods ?? []) allow.add(m);
  }
  return undefined;
}

/** Percent-decodes one segment as UTF-8; a malformed escape refuses the path. */
function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new RefusedPath(`the path segment "${raw.slice(0, 64)}" is not valid percent-encoded UTF-8`);
  }
}
