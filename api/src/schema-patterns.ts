import { DURATION_PATTERN } from './duration.js';
import type { SchemaNode } from './schema-node.js';

/** Patterns and small nodes the Function schema's files share. */

export const SUBJECT_PATTERN = '^[A-Za-z0-9_\\-]+(\\.[A-Za-z0-9_\\-*>]+)*$';
export const SECRET_NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$';

export const duration = (defaultValue?: string): SchemaNode => ({
  type: 'string',
  pattern: DURATION_PATTERN,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
});
