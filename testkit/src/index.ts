export * from './http.js';
export * from './eventually.js';
