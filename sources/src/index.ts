export * from './source.js';
export * from './registry.js';
