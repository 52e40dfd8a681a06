// Chooses where locks live: the Kubernetes API when a cluster is configured (or asked
// for), otherwise the in-process store, announced loudly.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { configError } from '../errors.js';
import { createKubeClients, loadKubeConfig, type KubeClients } from '../kube/kube-client.js';
import type { ApiObserve } from '../kube/api-errors.js';
import { KubeHolderReader, unverifiableHolders, type HolderReader } from './holder-reader.js';
import { KubeLeaseStore } from './kube-lease-store.js';
import type { LeaseStore } from './lease-store.js';
import { MemoryLeaseStore } from './memory-lease-store.js';
import { KubeConfig } from '@kubernetes/client-node';

export interface OpenedStore {
  store: LeaseStore;
  holders: HolderReader;
  clients?: KubeClients;
  /** The in-process store, when locks live there (it needs its own expiry). */
  embedded?: MemoryLeaseStore;
  close(): void;
}

export async function openStore(
  config: Pick<Config, 'store' | 'kubeconfig' | 'leaseNamespace'> &
    Partial<Pick<Config, 'embeddedMaxLocks'>> & { kubeContext?: string },
  logger: Logger,
  observe: ApiObserve,
): Promise<OpenedStore> {
  if (config.store !== 'memory') {
    let kc: KubeConfig | undefined;
    try {
      kc = loadKubeConfig(config.kubeconfig, config.kubeContext);
      if (!kc && config.store === 'kubernetes') {
        kc = new KubeConfig();
        kc.loadFromDefault();
        if (!kc.getCurrentCluster()) kc = undefined;
      }
    } catch (err) {
      throw configError(`cannot load the kubeconfig: ${(err as Error).message}`);
    }
    if (kc) {
      const clients = await createKubeClients(kc);
      logger.info(
        { store: 'kubernetes', server: clients.server, leaseNamespace: config.leaseNamespace },
        'locks are Leases in the Kubernetes API',
      );
      return {
        store: new KubeLeaseStore(clients, config.leaseNamespace, observe),
        holders: new KubeHolderReader(clients, observe),
        clients,
        close: () => clients.close(),
      };
    }
    if (config.store === 'kubernetes') {
      throw configError(
        'store is "kubernetes" but no cluster is configured: run in a Pod, set KUBECONFIG, or pass a kubeconfig (LEASEGUARD_KUBECONFIG)',
      );
    }
  }
  logger.warn(
    { store: 'memory', leaseNamespace: config.leaseNamespace },
    'NO CLUSTER CONFIGURED: locks live in this process only (embedded Lease store). ' +
      'They are not shared with other replicas and are lost on restart; holders cannot be read, so a lock expires after the pending timeout. ' +
      'Set KUBECONFIG or run in-cluster for cluster-wide single-writer guarantees.',
  );
  const embedded = new MemoryLeaseStore(
    config.leaseNamespace,
    config.embeddedMaxLocks === undefined ? {} : { maxLeases: config.embeddedMaxLocks },
  );
  return { store: embedded, holders: unverifiableHolders, embedded, close: () => {} };
}
