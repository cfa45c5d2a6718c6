import { noteMachine, stopSharedNode } from './shared-node.js';

/**
 * Mocha root hooks of `npm run test:node` (test/node/mocharc.json): the machine is noted before
 * the first suite, and the shared node stops after the last, failing the run if it left anything.
 */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(5 * 60_000);
    await noteMachine();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(5 * 60_000);
    await stopSharedNode();
  },
};
