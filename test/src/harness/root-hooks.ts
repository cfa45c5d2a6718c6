import { stopSharedControlPlane } from './control-plane/shared.js';

/** Mocha root hooks (loaded through `require` in .mocharc.json): the run's shared fixtures end here. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedControlPlane();
  },
};
