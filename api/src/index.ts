export * from './function.js';
export * from './duration.js';
export * from './names.js';
export * from './rules.js';
export * from './schema.js';
export * from './validate.js';
export * from './log.js';
export * from './crd.js';
