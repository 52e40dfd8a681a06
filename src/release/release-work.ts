// Runs the release work on one replica at a time: campaigns for leadership and starts
// or stops the release controller as leadership comes and goes.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RuleIndex } from '../core/rules.js';
import type { Metrics } from '../metrics.js';
import type { Readiness } from '../readiness.js';
import type { HolderReader } from '../store/holder-reader.js';
import type { LeaseStore } from '../store/lease-store.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import type { LeaseAges } from '../lock/lease-ages.js';
import { LeaderElector } from './leader-election.js';
import { ReleaseController } from './release-controller.js';

export const LEADER_LEASE_NAME = 'leaseguard-leader';

export interface ReleaseWorkOptions {
  kubeConfig: KubeConfig;
  store: LeaseStore;
  holders: HolderReader;
  rules: RuleIndex;
  identity: string;
  pendingTimeoutSeconds: number;
  ages: LeaseAges;
  events: EventRecorder;
  /** Other installations' Lease namespaces, whose stamped objects the duplicate monitor leaves to them. */
  foreignLeaseNamespaces?: readonly string[];
  sweepIntervalSeconds: number;
  watchTimeoutSeconds: number;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  metrics: Metrics;
  logger: Logger;
  readiness: Readiness;
}

export interface ReleaseWork {
  elector: LeaderElector;
  controller: ReleaseController;
  stop(): Promise<void>;
}

export function startReleaseWork(o: ReleaseWorkOptions): ReleaseWork {
  const controller = new ReleaseController(o);
  o.metrics.leader.set(0);
  // Leadership can flap; start and stop run strictly in the order they were decided.
  let transitions: Promise<void> = Promise.resolve();
  const transition = (leading: boolean) => {
    transitions = transitions
      .then(() => (leading ? controller.start() : controller.stop()))
      .catch((err: Error) => o.logger.error({ err: err.message }, leading ? 'release work failed to start' : 'release work failed to stop'));
  };
  const elector = new LeaderElector({
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
      transition(true);
    },
    onStoppedLeading: () => {
      o.metrics.leader.set(0);
      o.metrics.leaderTransitions.inc();
      transition(false);
    },
    onNewLeader: (leader) => o.logger.info({ leader, self: leader === o.identity }, 'leader observed'),
  });
  elector.start();
  return {
    elector,
    controller,
    async stop() {
      await elector.stop();
      await transitions;
      await controller.stop();
    },
  };
}
