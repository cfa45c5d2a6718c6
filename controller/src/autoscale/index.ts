export * from './config.js';
export * from './window.js';
export * from './decider.js';
export * from './reports.js';
