// How an integration test finds the control plane that `npm test` started.
import { readFileSync } from 'node:fs';
import { CoordinationV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { runKubectl, type ControlPlaneInfo, type Identity } from './control-plane.js';

export const CONTROL_PLANE_ENV = 'LEASEGUARD_TEST_CONTROL_PLANE';

let cached: ControlPlaneInfo | undefined;

export function controlPlane(): ControlPlaneInfo {
  if (cached) return cached;
  const file = process.env[CONTROL_PLANE_ENV];
  if (!file) {
    throw new Error(
      `${CONTROL_PLANE_ENV} is not set: integration tests run against the control plane that \`npm test\` starts; run them with npm test`,
    );
  }
  cached = JSON.parse(readFileSync(file, 'utf8')) as ControlPlaneInfo;
  return cached;
}

export function kubeConfigFor(identity: Identity): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(controlPlane().kubeconfigs[identity]);
  return kc;
}

export function customObjects(identity: Identity = 'controller'): CustomObjectsApi {
  return kubeConfigFor(identity).makeApiClient(CustomObjectsApi);
}

export function coordination(identity: Identity = 'admin'): CoordinationV1Api {
  return kubeConfigFor(identity).makeApiClient(CoordinationV1Api);
}

export function kubectl(args: string[], opts: { identity?: Identity; input?: string } = {}) {
  return runKubectl(controlPlane().kubeconfigs[opts.identity ?? 'admin'], args, opts.input);
}

/** An object (or list) as `kubectl ... -o json` prints it; undefined when kubectl fails. */
export async function kubectlJson(
  args: string[],
  opts: { identity?: Identity } = {},
): Promise<Record<string, any> | undefined> {
  const r = await kubectl([...args, '-o', 'json'], opts);
  return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, any>) : undefined;
}
