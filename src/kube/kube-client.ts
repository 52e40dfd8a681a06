// API clients for one KubeConfig that share a single keep-alive HTTPS agent.
//
// @kubernetes/client-node would send each call through its own fetch stack; here one
// keep-alive agent is built once from the kubeconfig, only the Authorization header is
// computed per request (tokens may rotate), and requests go out through Node's http
// client (node-http-library.ts says why).
import https from 'node:https';
import http from 'node:http';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  ServerConfiguration,
  createConfiguration,
  type ConfigurationOptions,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';
import { nodeHttpLibrary, send } from './node-http-library.js';

export interface KubeClients {
  readonly kubeConfig: KubeConfig;
  readonly server: string;
  readonly coordination: CoordinationV1Api;
  readonly core: CoreV1Api;
  readonly customObjects: CustomObjectsApi;
  /**
   * One JSON request through the same agent and credentials, without client-node's typed
   * serialisation either way: for the admission hot path (a new key's Lease create) and
   * the sweep's list pages. The result is the object as the API server sent it (times as
   * strings); a non-2xx answer throws client-node's ApiException, so errors map as for
   * every other call.
   */
  json(method: 'GET' | 'POST' | 'PUT' | 'PATCH', path: string, body: unknown, signal?: AbortSignal): Promise<unknown>;
  /** Per-call options that attach an abort signal to one request. */
  withSignal(signal: AbortSignal | undefined): ConfigurationOptions | undefined;
  /** Closes idle keep-alive sockets. */
  close(): void;
}

export interface KubeClientOptions {
  /** Concurrent sockets to the API server; admission bursts share them. */
  maxSockets?: number;
}

class KeepAliveAuthentication implements SecurityAuthentication {
  readonly #kc: KubeConfig;
  readonly #basic: string | undefined;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    const user = kc.getCurrentUser();
    this.#basic = user?.username
      ? Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')
      : undefined;
  }

  getName(): string {
    return 'leaseguard-keepalive';
  }

  /** The request's credentials, computed per call (a token file, exec plugin or OIDC token may rotate). */
  async headers(): Promise<Record<string, string>> {
    const opts: { headers: Record<string, string> } = { headers: {} };
    // Public at runtime, private in the typings.
    await (this.#kc as unknown as { applyAuthorizationHeader(o: typeof opts): Promise<void> }).applyAuthorizationHeader(
      opts,
    );
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers)) out[k] = String(v);
    if (this.#basic && !out.Authorization) out.Authorization = `Basic ${this.#basic}`;
    return out;
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    // Only headers: requests go out through nodeHttpLibrary and its keep-alive agent.
    for (const [k, v] of Object.entries(await this.headers())) context.setHeaderParam(k, v);
  }
}

export function loadKubeConfig(kubeconfigPath?: string, context?: string): KubeConfig | undefined {
  const kc = new KubeConfig();
  if (kubeconfigPath) {
    kc.loadFromFile(kubeconfigPath);
    return useContext(kc, context);
  }
  if (process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT && context === undefined) {
    kc.loadFromCluster();
    return kc;
  }
  if (process.env.KUBECONFIG || context !== undefined) {
    kc.loadFromDefault();
    return kc.getCurrentCluster() || context !== undefined ? useContext(kc, context) : undefined;
  }
  return undefined;
}

/** kubectl's --context: a named context of the kubeconfig instead of its current one. */
function useContext(kc: KubeConfig, context: string | undefined): KubeConfig {
  if (context === undefined) return kc;
  if (!kc.getContextObject(context)) {
    const known = kc.getContexts().map((c) => c.name);
    throw new Error(
      `no context ${JSON.stringify(context)} in the kubeconfig (it has ${known.length ? known.join(', ') : 'none'})`,
    );
  }
  kc.setCurrentContext(context);
  return kc;
}

export async function createKubeClients(kc: KubeConfig, options: KubeClientOptions = {}): Promise<KubeClients> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster; set its current-context');
  const tls: https.AgentOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const agentOptions = {
    keepAlive: true,
    // Small request/response pairs: never wait on Nagle's algorithm.
    noDelay: true,
    keepAliveMsecs: 30_000,
    maxSockets: options.maxSockets ?? 32,
    maxFreeSockets: options.maxSockets ?? 32,
  };
  const agent = cluster.server.startsWith('http:')
    ? new http.Agent(agentOptions)
    : new https.Agent({
        ...agentOptions,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        ...(tls.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
        ...(tls.servername ? { servername: tls.servername } : {}),
      });
  const auth = new KeepAliveAuthentication(kc);
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: auth },
    httpApi: nodeHttpLibrary(agent),
  });
  const base = cluster.server.replace(/\/+$/, '');
  return {
    kubeConfig: kc,
    server: cluster.server,
    coordination: new CoordinationV1Api(config),
    core: new CoreV1Api(config),
    customObjects: new CustomObjectsApi(config),
    async json(method, path, body, signal) {
      // PATCH bodies are JSON patches (RFC 6902): a `test` op makes them compare-and-swap.
      const type = method === 'PATCH' ? 'application/json-patch+json' : 'application/json';
      const headers = {
        ...(await auth.headers()),
        ...(body === undefined ? {} : { 'content-type': type }),
        accept: 'application/json',
      };
      const res = await send(
        `${base}${path}`,
        { method, headers, agent, ...(signal ? { signal } : {}) },
        body === undefined ? undefined : JSON.stringify(body),
      );
      const text = res.body.toString('utf8');
      if (res.status < 200 || res.status > 299)
        throw new ApiException(res.status, `HTTP-Code: ${res.status}`, text, res.headers);
      return JSON.parse(text) as unknown;
    },
    withSignal(signal) {
      if (!signal) return undefined;
      const mw: ObservableMiddleware = {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
      };
      return { middleware: [mw], middlewareMergeStrategy: 'append' };
    },
    close() {
      agent.destroy();
    },
  };
}
