import { type PodContainer, apiTime } from './pod-objects.js';

/** What the pod runner knows of one pod's single container, for its status. */
export interface ContainerRun {
  podIP: string;
  /** When the pod was bound to the node. */
  scheduledAt: Date;
  /** When the pod's address was set up: its "sandbox". */
  startedAt: Date;
  /** The running process: its PID and when it started; undefined between a crash and its restart. */
  process: { pid: number; startedAt: Date } | undefined;
  ready: boolean;
  /** When `ready` last changed (or the pod started, if it never has). */
  readySince: Date;
  restartCount: number;
  lastExit: { exitCode: number; startedAt: Date; finishedAt: Date } | undefined;
}

/**
 * The pod status the kubelet would write for this run: phase Running, the pod's IP, the
 * conditions the EndpointSlice and Deployment controllers read, and the container's state.
 * Pure; sent as a merge patch of the status subresource, so the lists here replace the old ones.
 */
export function podStatus(container: PodContainer, run: ContainerRun): Record<string, unknown> {
  const condition = (type: string, status: boolean, since: Date, reason?: string) => ({
    type,
    status: status ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: apiTime(since),
    ...(status || reason === undefined
      ? {}
      : { reason, message: `containers with unready status: [${container.name}]` }),
  });
  return {
    phase: 'Running',
    podIP: run.podIP,
    podIPs: [{ ip: run.podIP }],
    startTime: apiTime(run.startedAt),
    conditions: [
      condition('PodReadyToStartContainers', true, run.startedAt),
      condition('Initialized', true, run.startedAt),
      condition('Ready', run.ready, run.readySince, 'ContainersNotReady'),
      condition('ContainersReady', run.ready, run.readySince, 'ContainersNotReady'),
      condition('PodScheduled', true, run.scheduledAt),
    ],
    containerStatuses: [
      {
        name: container.name,
        image: container.image,
        imageID: '',
        ...(run.process === undefined ? {} : { containerID: `nimbus-test://${run.process.pid}` }),
        ready: run.ready,
        started: run.process !== undefined,
        restartCount: run.restartCount,
        state:
          run.process === undefined
            ? { waiting: { reason: 'CrashLoopBackOff', message: 'the process exited; restarting' } }
            : { running: { startedAt: apiTime(run.process.startedAt) } },
        lastState:
          run.lastExit === undefined
            ? {}
            : {
                terminated: {
                  exitCode: run.lastExit.exitCode,
                  reason: run.lastExit.exitCode === 0 ? 'Completed' : 'Error',
                  startedAt: apiTime(run.lastExit.startedAt),
                  finishedAt: apiTime(run.lastExit.finishedAt),
                },
              },
      },
    ],
  };
}
