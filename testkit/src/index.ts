export * from './http.js';
export * from './eventually.js';
export * from './free-port.js';
export * from './stop-child.js';
export * from './server-process.js';
export * from './nats-server.js';
export * from './redis-server.js';
export * from './manual-clock.js';
