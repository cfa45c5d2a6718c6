export * from './source.js';
export * from './registry.js';
export * from './secret-mirror.js';
