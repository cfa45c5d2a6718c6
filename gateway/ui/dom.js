/**
 * Building the page's elements. Everything the gateway returns is text the page did not write
 * (function names, log lines, error messages come from function authors and callers), so it only
 * ever goes in as a text node or a property: nothing here parses HTML.
 */

/**
 * An element with `props` set as properties (className, type, value, title, disabled…) and
 * `children` appended: strings and numbers as text, nodes as they are, null and undefined skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else node[name] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A link inside the page (`#/…`), or to an http(s) address; anything else (javascript:…) stays plain text. */
export function link(href, text, external = false) {
  const safe = href.startsWith('#/') || /^https?:\/\//i.test(href);
  if (!safe) return el('span', {}, text);
  const a = el('a', { href }, text);
  if (external) {
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
  }
  return a;
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A table with a header row and one row per entry. */
export function table(headers, rows, className = '') {
  return el(
    'table',
    { className },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headers.map((h) => el('th', {}, h)),
      ),
    ),
    el('tbody', {}, rows),
  );
}

/** Label and value pairs as a definition list; undefined values are left out. */
export function facts(pairs) {
  return el(
    'dl',
    { className: 'facts' },
    pairs
      .filter(([, value]) => value !== undefined)
      .map(([label, value]) => [el('dt', {}, label), el('dd', {}, value)]),
  );
}

/** Epoch milliseconds as local time, to the second. */
export function time(ms) {
  return ms === undefined || ms === null ? '' : new Date(ms).toLocaleString();
}
