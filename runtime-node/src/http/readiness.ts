import { inject, injectable } from 'tsyringe';
import type { LoadState } from '../invoke/handler-slot.js';
import { TOKENS } from '../tokens.js';

export type ReadinessReport =
  | { readonly status: 'ready' }
  | { readonly status: 'loading' }
  | { readonly status: 'failed'; readonly reason: string }
  | { readonly status: 'draining' }
  /** A generic pool replica that has not taken on a function yet. */
  | { readonly status: 'unspecialised'; readonly reason: string };

export interface LoadStateSource {
  readonly state: LoadState;
}

/** What /_/ready reports: draining wins over the handler's load state. */
@injectable()
export class Readiness {
  private isDraining = false;

  constructor(@inject(TOKENS.HandlerSlot) private readonly handler: LoadStateSource) {}

  get draining(): boolean {
    return this.isDraining;
  }

  markDraining(): void {
    this.isDraining = true;
  }

  report(): ReadinessReport {
    if (this.isDraining) return { status: 'draining' };
    const state = this.handler.state;
    if (state.status === 'failed') return { status: 'failed', reason: state.reason };
    return { status: state.status };
  }
}
