/** The pure builders of what a Function needs in a cluster, in one import. */
export * from './deployment.js';
export * from './metadata.js';
export * from './network-policy.js';
export * from './objects.js';
export * from './runtime-image.js';
export * from './runtime-settings.js';
export * from './service.js';
export * from './source-configmap.js';
export * from './state-binding.js';
export * from './state-secret.js';
