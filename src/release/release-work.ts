// The release work runs on one replica at a time: this replica campaigns for leadership
// (the Lease LEADER_LEASE_NAME), and the runner (src/runner.ts) starts the release
// controller while it leads and stops it when it does not.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Election } from '../runner.js';
import type { LeaseStore } from '../store/lease-store.js';
import { LeaderElector } from './leader-election.js';

export const LEADER_LEASE_NAME = 'leaseguard-leader';

export interface LeaderElectionSettings {
  store: LeaseStore;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  metrics: Metrics;
  logger: Logger;
}

export interface ReleaseElection extends Election {
  readonly isLeader: boolean;
}

/** Leadership of the release work, reported by the leader gauge and transitions counter. */
export function releaseElection(o: LeaderElectionSettings): ReleaseElection {
  let elector: LeaderElector | undefined;
  o.metrics.leader.set(0);
  return {
    get isLeader() {
      return elector?.isLeader ?? false;
    },
    start(on) {
      elector = new LeaderElector({
        store: o.store,
        name: LEADER_LEASE_NAME,
        identity: o.identity,
        leaseDurationMs: o.leaseDurationSeconds * 1000,
        renewDeadlineMs: o.renewDeadlineSeconds * 1000,
        retryPeriodMs: o.retryPeriodSeconds * 1000,
        logger: o.logger,
        onStartedLeading: () => {
          o.metrics.leader.set(1);
          o.metrics.leaderTransitions.inc();
          on.started();
        },
        onStoppedLeading: () => {
          o.metrics.leader.set(0);
          o.metrics.leaderTransitions.inc();
          on.stopped();
        },
        onNewLeader: (leader) => o.logger.info({ leader, self: leader === o.identity }, 'leader observed'),
      });
      elector.start();
    },
    async stop() {
      await elector?.stop();
    },
  };
}
