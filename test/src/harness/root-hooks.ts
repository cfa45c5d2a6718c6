import { controlPlaneBinaries } from './control-plane/assets.js';
import { ControlPlane } from './control-plane/control-plane.js';
import { stopSharedControlPlane } from './control-plane/shared.js';
import { promtoolBinary } from './promtool.js';
import { tracingBackendBinary } from './tracing-backend.js';

/** Mocha root hooks (loaded through `require` in .mocharc.json): the run's shared fixtures start and end here. */
export const mochaHooks = {
  /**
   * On a fresh machine the control plane's binaries are built with Go first (minutes each), here,
   * with no time limit, rather than inside the first suite that needs one, whose own limit would
   * then have to cover a build of unknown length on a busy machine. Cached, it costs nothing.
   * The tracing backend (Jaeger) and promtool are built the same way, after them.
   */
  async beforeAll(this: Mocha.Context) {
    this.timeout(0);
    const progress = (line: string) => process.stderr.write(`${line}\n`);
    await controlPlaneBinaries(progress, { controllerManager: true });
    await tracingBackendBinary(progress);
    await promtoolBinary(progress);
  },

  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedControlPlane();
    // A suite whose start timed out never got its plane to stop: none may outlive the run.
    ControlPlane.killLeftOver();
  },
};
