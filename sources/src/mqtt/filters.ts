/**
 * Topic filters as a trigger lists them. A broker may deliver a message once for every filter of a
 * session it matches (MQTT 5, 3.3.4; mosquitto does): with `a/+/x` and `a/#` both subscribed, a
 * message on `a/b/x` would come twice, with two packet ids, so two events. A filter another one of
 * the list covers is therefore left out. Filters that only partly overlap (`a/+/x` and `a/b/+`)
 * can still bring a message once for each; that is the broker's choice and is documented.
 */

/** `+` fills a whole level, `#` only the last one. */
export function validFilter(filter: string): boolean {
  const levels = filter.split('/');
  return levels.every(
    (level, i) =>
      (level === '#' && i === levels.length - 1) ||
      level === '+' ||
      (!level.includes('+') && !level.includes('#')),
  );
}

/** True when every topic `narrow` matches, `wide` matches too. */
export function covers(wide: string, narrow: string): boolean {
  const w = wide.split('/');
  const n = narrow.split('/');
  // A wildcard first level matches no topic that starts with `$` (MQTT 5, 4.7.2).
  if ((w[0] === '#' || w[0] === '+') && n[0]?.startsWith('$')) return false;
  for (let i = 0; i < w.length; i++) {
    const level = w[i];
    if (level === '#') return true;
    const other = n[i];
    if (other === undefined || other === '#') return false;
    if (level !== '+' && (level !== other || other === '+')) return false;
  }
  return w.length === n.length;
}

/** The filters to subscribe: duplicates and filters another one covers left out, in list order. */
export function subscriptionFilters(filters: readonly string[]): string[] {
  const unique = [...new Set(filters)];
  return unique.filter((filter) => !unique.some((other) => other !== filter && covers(other, filter)));
}
