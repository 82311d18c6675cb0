import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenges } from '../../src/registry/client/auth';
import { endpointFor } from '../../src/registry/client/endpoint';
import { selectPlatform } from '../../src/registry/client/manifest';
import { decodeRegistryAuth, normalizeServer } from '../../src/registry/credentials';
import { sha256 } from '../../src/image/digest';

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="basic-realm"'), [{ scheme: 'basic', params: { realm: 'basic-realm' } }]);
  assert.deepEqual(parseChallenges(null), []);
});

test('endpoints: docker.io over https, loopback over http, env list', () => {
  assert.equal(endpointFor('docker.io').base, 'https://registry-1.docker.io');
  assert.equal(endpointFor('localhost:5000').base, 'http://localhost:5000');
  assert.equal(endpointFor('127.0.0.1:5000').base, 'http://127.0.0.1:5000');
  assert.equal(endpointFor('[::1]:5000').base, 'http://[::1]:5000');
  assert.equal(endpointFor('registry.example.com').base, 'https://registry.example.com');
  process.env.BERTH_INSECURE_REGISTRIES = 'registry.example.com';
  assert.equal(endpointFor('registry.example.com:443').insecure, true);
  delete process.env.BERTH_INSECURE_REGISTRIES;
});

test('platform selection skips attestations and unknown platforms', () => {
  const d = (os: string, architecture: string, extra: Record<string, unknown> = {}) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(os + architecture), size: 1, platform: { os, architecture }, ...extra });
  const index = { schemaVersion: 2 as const, manifests: [d('unknown', 'unknown'), d('linux', 'arm64'), d('linux', 'amd64')] };
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'amd64' }, 'x').digest, sha256('linuxamd64'));
  assert.throws(() => selectPlatform(index, { os: 'linux', architecture: 's390x' }, 'x'), /no matching manifest for linux\/s390x.*has: linux\/arm64, linux\/amd64/);
});

test('server addresses and X-Registry-Auth', () => {
  assert.equal(normalizeServer('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normalizeServer('http://localhost:5000/'), 'localhost:5000');
  assert.equal(normalizeServer(undefined), 'docker.io');
  const h = Buffer.from(JSON.stringify({ username: 'u', password: 'p?>', serveraddress: 'x' })).toString('base64url');
  assert.deepEqual(decodeRegistryAuth(h), { username: 'u', password: 'p?>' });
  assert.deepEqual(decodeRegistryAuth('%%%'), {});
});
