export * from './errors.js';
export * from './informer.js';
export * from './informer-set.js';
export * from './kube-client.js';
export * from './kubeconfig.js';
export * from './resources.js';
