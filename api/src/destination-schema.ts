import { FUNCTION_NAME_PATTERN } from './names.js';
import type { SchemaNode } from './schema-node.js';

/** A literal NATS subject: tokens of letters, digits, `_` and `-`, no wildcards. */
export const LITERAL_SUBJECT_PATTERN = '^[A-Za-z0-9_\\-]+(\\.[A-Za-z0-9_\\-]+)*$';

const destination = (when: string): SchemaNode => ({
  type: 'object',
  additionalProperties: false,
  description: `Where the outcome goes when ${when}, as a CloudEvent: exactly one of function and subject.`,
  properties: {
    function: {
      type: 'string',
      pattern: FUNCTION_NAME_PATTERN,
      maxLength: 63,
      description:
        'A Function in this namespace, called asynchronously (its own spec.async retries) with the outcome as the body.',
    },
    subject: {
      type: 'string',
      pattern: LITERAL_SUBJECT_PATTERN,
      maxLength: 255,
      description:
        'A NATS subject the outcome is published on, so every Function with a nats trigger on it gets it. ' +
        'No wildcards; one that Nimbus or NATS keeps (nimbus.>, _INBOX.>) is refused.',
    },
  },
});

/**
 * `spec.destinations`: where the outcome of an async call or a trigger event of the function goes
 * once it ends, so a pipeline of functions needs no glue code. Rules: rules.ts.
 */
export const destinationsSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  description:
    'Where the outcome of an async call (POST /async-function/...) or a trigger event goes once it ends: ' +
    'type dev.nimbus.function.succeeded after a 2xx, dev.nimbus.function.failed once it is dead-lettered. ' +
    'Sync calls have no destinations: their caller has the answer. A chain of destinations ends after 8 hops.',
  properties: {
    onSuccess: destination('the call or event is answered with a 2xx'),
    onFailure: destination('the call or event runs out of attempts and is dead-lettered'),
  },
};
