export * from './config.js';
export * from './window.js';
export * from './decider.js';
export * from './reports.js';
export * from './report-endpoint.js';
