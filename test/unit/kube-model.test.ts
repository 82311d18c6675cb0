/** kube play's reading of Kubernetes YAML: quantities, checks that name the document and field, and the pod translation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryBytes, nanoCpus, parseQuantity } from '../../src/kube/quantity';
import { KubeError, parseManifest } from '../../src/kube/model';
import { containerBody, environment, expandRefs, infraBody, podFiles, type PodContext } from '../../src/kube/translate';

test('quantities: binary and decimal suffixes, milli, exponents; garbage is undefined', () => {
  assert.equal(memoryBytes('128Mi'), 128 * 2 ** 20);
  assert.equal(memoryBytes('1Gi'), 2 ** 30);
  assert.equal(memoryBytes('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(memoryBytes('500M'), 500e6);
  assert.equal(memoryBytes('1e3'), 1000);
  assert.equal(memoryBytes(4096), 4096);
  assert.equal(memoryBytes('100m'), 1, 'milli-bytes round up, as Kubernetes does');
  assert.equal(nanoCpus('500m'), 5e8);
  assert.equal(nanoCpus('2'), 2e9);
  assert.equal(nanoCpus(0.25), 2.5e8);
  assert.equal(nanoCpus('1.5'), 1.5e9);
  for (const bad of ['', 'Mi', '12 Mi', '1.2.3', '128MB', '-', 'ten']) assert.equal(parseQuantity(bad), undefined, bad);
  assert.equal(memoryBytes('-1Gi'), undefined);
});

const pod = (spec: string, extra = '') => `${extra}apiVersion: v1
kind: Pod
metadata: { name: p, labels: { app: a } }
spec:
${spec}`;

function refused(yaml: string, message: RegExp): void {
  assert.throws(() => parseManifest(yaml), (e: unknown) => e instanceof KubeError && message.test(e.message), yaml);
}

test('validation names the document and the field', () => {
  refused(pod('  containers: []'), /^document 1 \(Pod "p"\): spec\.containers: a pod needs at least one container$/);
  refused(pod('  containers: [{ name: c }]'), /spec\.containers\[0\]\.image: is required/);
  refused(pod('  containers: [{ name: c, image: "" }]'), /spec\.containers\[0\]\.image: must not be empty/);
  refused(pod('  containers: [{ name: C_1, image: busybox }]'), /spec\.containers\[0\]\.name: "C_1" is not a valid name/);
  refused(pod('  containers: [{ name: c, image: busybox, command: sh }]'), /spec\.containers\[0\]\.command: must be a list/);
  refused(pod('  containers: [{ name: c, image: busybox, volumeMounts: [{ name: v, mountPath: /v }] }]'), /volumeMounts\[0\]\.name: no volume named "v"/);
  refused(pod('  containers: [{ name: c, image: busybox, resources: { limits: { memory: lots } } }]'), /resources\.limits\.memory: "lots" is not a quantity/);
  refused(pod('  containers: [{ name: c, image: busybox, ports: [{ containerPort: 70000 }] }]'), /ports\[0\]\.containerPort: must be an integer from 1 to 65535/);
  refused(pod('  volumes: [{ name: v, nfs: { server: x } }]\n  containers: [{ name: c, image: busybox }]'), /volumes\[0\]: volume type nfs is not supported/);
  refused(pod('  restartPolicy: Sometimes\n  containers: [{ name: c, image: busybox }]'), /restartPolicy: must be one of Always, OnFailure, Never/);
  refused(pod('  containers: [{ name: c, image: busybox }, { name: c, image: busybox }]'), /container name "c" is used twice/);
  refused(`kind: Secret\nmetadata: { name: s }\ndata: { K: "not base64!" }\n---\n${pod('  containers: [{ name: c, image: busybox }]')}`, /^document 1 \(Secret "s"\): data\.K: is not base64/);
  refused(pod('  containers: [{ name: c, image: busybox, env: [{ name: E, valueFrom: { configMapKeyRef: { name: m, key: k } } }] }]'), /ConfigMap "m" is not defined/);
  refused(`kind: ConfigMap\nmetadata: { name: m }\ndata: { other: x }\n---\n${pod('  containers: [{ name: c, image: busybox, env: [{ name: E, valueFrom: { configMapKeyRef: { name: m, key: k } } }] }]')}`, /ConfigMap "m" has no key "k"/);
  refused('kind: Pod\nmetadata: { name: x\n', /^document 1: invalid YAML/);
  refused('kind: Pod\nspec: {}\n', /^document 1: metadata: is required/);
  refused('- a\n- b\n', /^document 1: \(top\): must be a mapping/);
  refused('kind: ConfigMap\nmetadata: { name: only }\n', /no pods/);
  refused(`${pod('  containers: [{ name: c, image: busybox }]')}\n---\n${pod('  containers: [{ name: c, image: busybox }]')}`, /pod p is defined twice/);
  // Optional references may be missing.
  assert.doesNotThrow(() => parseManifest(pod('  containers: [{ name: c, image: busybox, envFrom: [{ configMapRef: { name: gone, optional: true } }] }]')));
});

test('workloads: replicas become pods, unknown kinds are warnings', () => {
  const m = parseManifest(`apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db }
spec:
  replicas: 2
  template:
    metadata: { labels: { app: db } }
    spec: { containers: [{ name: main, image: busybox, volumeMounts: [{ name: data, mountPath: /data }] }] }
  volumeClaimTemplates: [{ metadata: { name: data } }]
---
kind: Deployment
metadata: { name: web }
spec: { replicas: 3, template: { spec: { containers: [{ name: main, image: busybox }] } } }
---
kind: CronJob
metadata: { name: nightly }
`);
  assert.deepEqual(m.pods.map((p) => p.name), ['db-0', 'db-1', 'web-1', 'web-2', 'web-3']);
  assert.deepEqual(m.pods[1]!.spec.volumes.data, { type: 'claim', claim: 'data-db-1', readOnly: false });
  assert.deepEqual(m.warnings, ['CronJob nightly: kind CronJob is not supported by kube play; ignored']);
});

test('translation: env order and $(VAR), files, security, ports, probes', () => {
  const m = parseManifest(`kind: ConfigMap
metadata: { name: cm }
data: { A: from-cm, B: b, f.txt: content }
---
kind: Secret
metadata: { name: s }
data: { PW: cHc= }
---
kind: Service
metadata: { name: api }
spec: { type: NodePort, selector: { app: a }, ports: [{ port: 80, targetPort: http, nodePort: 30080 }] }
---
${pod(`  securityContext: { runAsUser: 1000, supplementalGroups: [5] }
  volumes: [{ name: c, configMap: { name: cm, defaultMode: 0400, items: [{ key: f.txt, path: sub/f.txt }] } }]
  containers:
    - name: c
      image: busybox
      command: [echo, $(A), $$(A)]
      envFrom: [{ configMapRef: { name: cm }, prefix: CM_ }]
      env:
        - { name: A, valueFrom: { configMapKeyRef: { name: cm, key: A } } }
        - { name: X, value: "x-$(A)-$(NOPE)" }
        - { name: PW, valueFrom: { secretKeyRef: { name: s, key: PW } } }
      ports: [{ name: http, containerPort: 8080, hostPort: 18080 }]
      securityContext: { runAsGroup: 7, capabilities: { add: [NET_ADMIN], drop: [ALL] }, readOnlyRootFilesystem: true }
      livenessProbe: { exec: { command: [test, -f, /ok] }, periodSeconds: 2, failureThreshold: 4 }
      volumeMounts: [{ name: c, mountPath: /etc/c }]`)}`);
  const p = m.pods[0]!;
  const c = p.spec.containers[0]!;
  const ctx: PodContext = { manifest: m, file: '/x.yaml', volumeNames: {}, imageUser: () => '' };
  assert.deepEqual(environment(p, c, ctx), { CM_A: 'from-cm', CM_B: 'b', 'CM_f.txt': 'content', A: 'from-cm', X: 'x-from-cm-$(NOPE)', PW: 'pw' });
  assert.equal(expandRefs('$$(A) $(A)', { A: '1' }), '$(A) 1');
  const body = containerBody(p, c, ctx, false) as { Entrypoint: string[]; User: string; HostConfig: Record<string, unknown>; Healthcheck: Record<string, unknown> };
  assert.deepEqual(body.Entrypoint, ['echo', 'from-cm', '$(A)']);
  assert.equal(body.User, '1000:7');
  assert.deepEqual([body.HostConfig.CapAdd, body.HostConfig.CapDrop, body.HostConfig.ReadonlyRootfs, body.HostConfig.GroupAdd], [['CAP_NET_ADMIN'], ['ALL'], true, ['5']]);
  assert.deepEqual(body.Healthcheck, { Test: ['CMD', 'test', '-f', '/ok'], Interval: 2e9, Timeout: 1e9, Retries: 4, StartPeriod: 0 });
  assert.deepEqual(podFiles(p, c, m), [{ target: '/etc/c/sub/f.txt', mode: 0o400, gid: 0, content: Buffer.from('content') }]);
  const infra = infraBody(p, ctx, m.services) as { HostConfig: { PortBindings: Record<string, unknown> }; NetworkingConfig: { EndpointsConfig: Record<string, { Aliases: string[] }> } };
  assert.deepEqual(infra.HostConfig.PortBindings, { '8080/tcp': [{ HostIp: '', HostPort: '18080' }, { HostIp: '', HostPort: '30080' }] });
  assert.deepEqual(infra.NetworkingConfig.EndpointsConfig['berth-kube']!.Aliases, ['p', 'api']);
});
