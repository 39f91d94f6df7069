import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { SERVE_FLAGS, parseServeArgs } from '../../serve/config.ts';
import { ROOT } from '../helpers/ganforge.ts';

// deploy/kubernetes.yaml against the Kubernetes schema (kubernetes-models: the API's OpenAPI schemas
// compiled for ajv), then against ganforge itself: its environment is valid server configuration, the
// probes go to the admin port's routes, the grace period outlasts the drain, the Service reaches the pod.

type Doc = Record<string, unknown>;
const file = join(ROOT, 'deploy', 'kubernetes.yaml');

async function documents(): Promise<Doc[]> {
  const docs = parseAllDocuments(await readFile(file, 'utf8'));
  for (const d of docs) assert.deepEqual(d.errors, [], 'valid YAML');
  return docs.map((d) => d.toJS() as Doc);
}

/** Memory in MiB of a Kubernetes quantity such as 768Mi or 1Gi. */
function mebibytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  assert.ok(m, `a quantity in Mi or Gi: ${quantity}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

test('deploy/kubernetes.yaml is a Deployment and a Service valid against the Kubernetes schema', async () => {
  const [deployment, service, ...rest] = await documents();
  assert.deepEqual(rest, []);
  assert.equal(deployment!.kind, 'Deployment');
  assert.equal(service!.kind, 'Service');
  new Deployment(deployment as ConstructorParameters<typeof Deployment>[0]).validate();
  new Service(service as ConstructorParameters<typeof Service>[0]).validate();
  // The validator does reject what the API server would: a probe without its port, a count as text.
  type Mutable = { spec: { replicas: unknown; template: { spec: { containers: { readinessProbe: { httpGet: object } }[] } } } };
  const portless = structuredClone(deployment) as Mutable;
  portless.spec.template.spec.containers[0]!.readinessProbe.httpGet = { path: '/readyz' };
  assert.throws(
    () => new Deployment(portless as ConstructorParameters<typeof Deployment>[0]).validate(),
    /readinessProbe\/httpGet must have required property port/,
  );
  const textual = structuredClone(deployment) as Mutable;
  textual.spec.replicas = 'two';
  assert.throws(() => new Deployment(textual as ConstructorParameters<typeof Deployment>[0]).validate(), /spec\/replicas must be integer/);
});

test('deploy/kubernetes.yaml fits ganforge: flags by environment, probes on the admin port, a grace period above the drain', async () => {
  const [deployment, service] = (await documents()) as unknown as [Deployment, Service];
  const pod = deployment.spec!.template.spec!;
  assert.equal(pod.containers.length, 1);
  const container = pod.containers[0]!;
  assert.deepEqual(container.command, ['node', 'bin/ganforge.js', 'serve'], 'node as PID 1 gets SIGTERM itself');

  // Every variable is a server flag's, and together they parse as the server would parse them.
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
  const known = new Set<string>(Object.values(SERVE_FLAGS).map((f) => f.env));
  for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is the environment variable of a serve flag`);
  const config = parseServeArgs([], env);
  assert.equal(config.host, '0.0.0.0', 'reachable from the kubelet and the Service');
  assert.ok(config.adminPort > 0);

  const ports = Object.fromEntries((container.ports ?? []).map((p) => [p.name, p.containerPort]));
  assert.deepEqual(ports, { http: config.port, admin: config.adminPort });
  assert.deepEqual([container.livenessProbe?.httpGet?.path, container.livenessProbe?.httpGet?.port], ['/healthz', 'admin']);
  assert.deepEqual([container.readinessProbe?.httpGet?.path, container.readinessProbe?.httpGet?.port], ['/readyz', 'admin']);
  assert.deepEqual([container.startupProbe?.httpGet?.path, container.startupProbe?.httpGet?.port], ['/healthz', 'admin']);

  // SIGKILL must come after the preStop pause and the whole drain, never during them.
  const preStopMs = (container.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000;
  const graceMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
  assert.ok(graceMs > preStopMs + config.drainTimeoutMs, `grace ${graceMs} ms > preStop ${preStopMs} ms + drain ${config.drainTimeoutMs} ms`);

  // README "Load": RSS 395 MiB at the start, 488 MiB at most under overload.
  const memory = container.resources!;
  assert.ok(mebibytes(String(memory.requests!.memory)) >= 395, 'the request covers the RSS at the start');
  assert.ok(mebibytes(String(memory.limits!.memory)) >= 488 * 1.25, 'the limit leaves a quarter above the measured peak');

  // tsx writes its cache under /tmp: with a read-only root it needs a volume there.
  if (container.securityContext?.readOnlyRootFilesystem) assert.ok(container.volumeMounts?.some((v) => v.mountPath === '/tmp'));

  const labels = deployment.spec!.template.metadata!.labels!;
  for (const [k, v] of Object.entries(service.spec!.selector!)) assert.equal(labels[k], v, `the Service selects the pods by ${k}`);
  assert.deepEqual(deployment.spec!.selector.matchLabels, service.spec!.selector);
  assert.equal(service.spec!.ports![0]!.targetPort, 'http');
});
