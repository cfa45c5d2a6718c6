/**
 * The descriptions `kubectl explain` shows, completed from the schema's own keywords so that the
 * words and the limits they describe cannot drift apart.
 */
import type { SchemaNode } from './schema-node.js';

type Hints = Readonly<Record<string, string>>;

const sentence = (text: string): string => `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;

const shown = (value: unknown): string =>
  value === '' ? '"" (empty)' : Array.isArray(value) ? value.join(', ') : String(value);

/** What a node's own keywords allow, as clauses: its values, pattern, range, length and size. */
function limitClauses(node: SchemaNode, hints: Hints): string[] {
  const out: string[] = [];
  if (node.enum !== undefined) out.push(`one of: ${node.enum.join(', ')}`);
  const hint = node.pattern === undefined ? undefined : hints[node.pattern];
  if (hint !== undefined) out.push(hint);
  const { minimum: min, maximum: max, minLength, maxLength } = node;
  if (min !== undefined && max !== undefined) out.push(`between ${min} and ${max}`);
  else if (min !== undefined) out.push(`at least ${min}`);
  else if (max !== undefined) out.push(`at most ${max}`);
  if (minLength !== undefined && maxLength !== undefined) out.push(`${minLength} to ${maxLength} characters`);
  else if (maxLength !== undefined) out.push(`at most ${maxLength} characters`);
  else if (minLength === 1) out.push('not empty');
  else if (minLength !== undefined) out.push(`at least ${minLength} characters`);
  if (node.maxItems !== undefined) out.push(`at most ${node.maxItems} entries`);
  return out;
}

/**
 * A property's description as `kubectl explain` shows it: the text written for it, then what the
 * schema itself says (allowed values, limits, the rules the API server checks, the default), so
 * the description cannot drift from the keywords it describes. `rules` are the messages of the
 * cross-field rules on this property.
 */
function describedNode(node: SchemaNode, rules: string[], hints: Hints): SchemaNode {
  const out: SchemaNode = { ...node };
  // Only after the words of what the property does: limits alone are no description.
  if (node.description !== undefined && node.description.trim() !== '') {
    const parts = [node.description, ...limitClauses(node, hints).map(sentence)];
    if (node.items !== undefined && node.items.type !== 'object') {
      const each = limitClauses(node.items, hints).join(', ');
      if (each !== '') parts.push(each.startsWith('must') ? `Each entry ${each}.` : `Each entry: ${each}.`);
    }
    parts.push(...rules.map(sentence));
    if (node.default !== undefined && node.type !== 'object') parts.push(`Default: ${shown(node.default)}.`);
    out.description = parts.join(' ');
  }
  if (node.properties !== undefined) out.properties = describedProperties(node, hints);
  if (node.items?.properties !== undefined)
    out.items = { ...node.items, properties: describedProperties(node.items, hints) };
  return out;
}

/** The CEL rules of a node without a fieldPath describe the node; with one, the property it names. */
const ruleMessages = (node: SchemaNode | undefined, fieldPath?: string): string[] =>
  (node?.['x-kubernetes-validations'] ?? []).filter((v) => v.fieldPath === fieldPath).map((v) => v.message);

function describedProperties(node: SchemaNode, hints: Hints): Record<string, SchemaNode> {
  return Object.fromEntries(
    Object.entries(node.properties ?? {}).map(([name, property]) => [
      name,
      describedNode(
        property,
        [
          ...ruleMessages(node, `.${name}`),
          ...ruleMessages(property),
          // A rule on each item of a list is what `kubectl explain` should show for the list.
          ...ruleMessages(property.items),
        ],
        hints,
      ),
    ]),
  );
}

/**
 * Gives every property below `node` its full description; see describedNode. `hints` says what
 * each pattern means in words. Pure.
 */
export function withDescriptions(hints: Hints, node: SchemaNode): SchemaNode {
  return { ...node, properties: describedProperties(node, hints) };
}
