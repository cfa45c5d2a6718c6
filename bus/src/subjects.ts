import { BusConfigError } from './errors.js';

/**
 * NATS subject grammar: dot-separated tokens; in patterns `*` stands for one token and a final
 * `>` for one or more. Streams refuse subjects that overlap another stream's, and so does the
 * memory bus, so both adapters fail on the same configuration.
 */

function tokens(subject: string): string[] {
  return subject.split('.');
}

/** Throws a BusConfigError naming `what` unless `subject` is well formed (with wildcards only when allowed). */
export function checkSubject(subject: string, what: string, wildcards: boolean): void {
  const parts = tokens(subject);
  parts.forEach((token, i) => {
    const bad =
      token === '' ||
      /\s/.test(token) ||
      (!wildcards && (token.includes('*') || token.includes('>'))) ||
      (token !== '*' && token.includes('*')) ||
      (token !== '>' && token.includes('>')) ||
      (token === '>' && i !== parts.length - 1);
    if (bad)
      throw new BusConfigError(
        `${what} "${subject}" is not a valid NATS subject${wildcards ? ' pattern' : ''}`,
      );
  });
}

/** Does the literal `subject` match `pattern`? */
export function subjectMatches(pattern: string, subject: string): boolean {
  return subjectCovers(pattern, subject);
}

/** Is there a subject that both patterns match? */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = tokens(a);
  const y = tokens(b);
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined || q === undefined) return p === q;
    if (p === '>' || q === '>') return true;
    if (p !== q && p !== '*' && q !== '*') return false;
  }
}

/** Does `general` match every subject that `specific` matches? */
export function subjectCovers(general: string, specific: string): boolean {
  const g = tokens(general);
  const s = tokens(specific);
  for (let i = 0; ; i++) {
    const p = g[i];
    const q = s[i];
    if (p === undefined || q === undefined) return p === q;
    if (p === '>') return true;
    if (q === '>') return false;
    if (p !== '*' && (q === '*' || p !== q)) return false;
  }
}
