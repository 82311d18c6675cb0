/**
 * Image reference parsing. The tables are ported from distribution/reference
 * (normalize_test.go: TestValidateReferenceName, TestValidateRemoteName,
 * TestParseRepositoryInfo, TestNormalizedSplitHostname, TestParseAnyReference,
 * TestParseDockerRef; reference_test.go: TestReferenceParse), with expected
 * values given as ParseNormalizedNamed would produce them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors';
import {
  type ImageReference,
  familiarName,
  familiarString,
  fullName,
  fullString,
  isDigest,
  looksLikeImageId,
  parseDockerRef,
  parseReference,
  withDefaultTag,
} from '../../src/image/reference';

const F64 = 'f'.repeat(64);
const DF = `sha256:${F64}`;
const D86 = 'sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';
const DBCC = 'dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c';
const DE66 = 'sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582';
const HEX64 = '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a';
const LONG_NS =
  'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255';

interface Valid {
  input: string;
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
  /** fullString */
  full: string;
  /** familiarString */
  familiar: string;
}

const VALID: Valid[] = [
  // Docker Hub official images and their spellings.
  { input: 'busybox', domain: 'docker.io', path: 'library/busybox', full: 'docker.io/library/busybox', familiar: 'busybox' },
  { input: 'busybox:latest', domain: 'docker.io', path: 'library/busybox', tag: 'latest', full: 'docker.io/library/busybox:latest', familiar: 'busybox:latest' },
  { input: 'library/ubuntu', domain: 'docker.io', path: 'library/ubuntu', full: 'docker.io/library/ubuntu', familiar: 'ubuntu' },
  { input: 'docker.io/foo', domain: 'docker.io', path: 'library/foo', full: 'docker.io/library/foo', familiar: 'foo' },
  { input: 'docker.io/library/debian', domain: 'docker.io', path: 'library/debian', full: 'docker.io/library/debian', familiar: 'debian' },
  { input: 'index.docker.io/debian', domain: 'docker.io', path: 'library/debian', full: 'docker.io/library/debian', familiar: 'debian' },
  { input: 'index.docker.io/library/ubuntu-12.04-base', domain: 'docker.io', path: 'library/ubuntu-12.04-base', full: 'docker.io/library/ubuntu-12.04-base', familiar: 'ubuntu-12.04-base' },
  // Hub user repositories; 'library/' is only hidden for single-level names.
  { input: 'fooo/bar', domain: 'docker.io', path: 'fooo/bar', full: 'docker.io/fooo/bar', familiar: 'fooo/bar' },
  { input: 'index.docker.io/fooo/bar', domain: 'docker.io', path: 'fooo/bar', full: 'docker.io/fooo/bar', familiar: 'fooo/bar' },
  { input: 'nonlibrary/ubuntu', domain: 'docker.io', path: 'nonlibrary/ubuntu', full: 'docker.io/nonlibrary/ubuntu', familiar: 'nonlibrary/ubuntu' },
  { input: 'other/library', domain: 'docker.io', path: 'other/library', full: 'docker.io/other/library', familiar: 'other/library' },
  { input: 'library/foo/bar', domain: 'docker.io', path: 'library/foo/bar', full: 'docker.io/library/foo/bar', familiar: 'library/foo/bar' },
  { input: 'docker.io/library/foo/bar', domain: 'docker.io', path: 'library/foo/bar', full: 'docker.io/library/foo/bar', familiar: 'library/foo/bar' },
  { input: 'store/foo/bar', domain: 'docker.io', path: 'store/foo/bar', full: 'docker.io/store/foo/bar', familiar: 'store/foo/bar' },
  { input: 'test_com/foo', domain: 'docker.io', path: 'test_com/foo', full: 'docker.io/test_com/foo', familiar: 'test_com/foo' },
  { input: 'docker---rules/docker', domain: 'docker.io', path: 'docker---rules/docker', full: 'docker.io/docker---rules/docker', familiar: 'docker---rules/docker' },
  { input: 'dock__er/docker', domain: 'docker.io', path: 'dock__er/docker', full: 'docker.io/dock__er/docker', familiar: 'dock__er/docker' },
  { input: 'jess/t', domain: 'docker.io', path: 'jess/t', full: 'docker.io/jess/t', familiar: 'jess/t' },
  // localhost is always a registry; other bare words never are.
  { input: 'localhost/fooo', domain: 'localhost', path: 'fooo', full: 'localhost/fooo', familiar: 'localhost/fooo' },
  { input: 'localhost/fooo/bar', domain: 'localhost', path: 'fooo/bar', full: 'localhost/fooo/bar', familiar: 'localhost/fooo/bar' },
  { input: 'localhost:5000/x', domain: 'localhost:5000', path: 'x', full: 'localhost:5000/x', familiar: 'localhost:5000/x' },
  { input: 'localhost', domain: 'docker.io', path: 'library/localhost', full: 'docker.io/library/localhost', familiar: 'localhost' },
  // An uppercase first component can only be a host.
  { input: 'LOCALDOMAIN/fooo', domain: 'LOCALDOMAIN', path: 'fooo', full: 'LOCALDOMAIN/fooo', familiar: 'LOCALDOMAIN/fooo' },
  { input: 'Foo/bar', domain: 'Foo', path: 'bar', full: 'Foo/bar', familiar: 'Foo/bar' },
  { input: 'DOCKER/docker', domain: 'DOCKER', path: 'docker', full: 'DOCKER/docker', familiar: 'DOCKER/docker' },
  // Private registries: '.' or ':' marks a host.
  { input: 'foo:5000/bar', domain: 'foo:5000', path: 'bar', full: 'foo:5000/bar', familiar: 'foo:5000/bar' },
  { input: 'test-com:8080/foo', domain: 'test-com:8080', path: 'foo', full: 'test-com:8080/foo', familiar: 'test-com:8080/foo' },
  { input: 'example.com/privatebase', domain: 'example.com', path: 'privatebase', full: 'example.com/privatebase', familiar: 'example.com/privatebase' },
  { input: 'example.com:8000/private/moonbase', domain: 'example.com:8000', path: 'private/moonbase', full: 'example.com:8000/private/moonbase', familiar: 'example.com:8000/private/moonbase' },
  { input: '127.0.0.1:8000/private/moonbase', domain: '127.0.0.1:8000', path: 'private/moonbase', full: '127.0.0.1:8000/private/moonbase', familiar: '127.0.0.1:8000/private/moonbase' },
  { input: 'xn--n3h.com:18080/foo', domain: 'xn--n3h.com:18080', path: 'foo', full: 'xn--n3h.com:18080/foo', familiar: 'xn--n3h.com:18080/foo' },
  { input: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag', domain: 'sub-dom1.foo.com', path: 'bar/baz/quux', tag: 'some-long-tag', full: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag', familiar: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag' },
  { input: 'b.gcr.io/test.example.com/my-app:test.example.com', domain: 'b.gcr.io', path: 'test.example.com/my-app', tag: 'test.example.com', full: 'b.gcr.io/test.example.com/my-app:test.example.com', familiar: 'b.gcr.io/test.example.com/my-app:test.example.com' },
  { input: '192.168.1.1:5000/repo:5050', domain: '192.168.1.1:5000', path: 'repo', tag: '5050', full: '192.168.1.1:5000/repo:5050', familiar: '192.168.1.1:5000/repo:5050' },
  // A single component with ':' is name:tag, never host:port.
  { input: 'test.com:5000', domain: 'docker.io', path: 'library/test.com', tag: '5000', full: 'docker.io/library/test.com:5000', familiar: 'test.com:5000' },
  { input: '192.168.0.1', domain: 'docker.io', path: 'library/192.168.0.1', full: 'docker.io/library/192.168.0.1', familiar: '192.168.0.1' },
  { input: '192.168.0.1:80', domain: 'docker.io', path: 'library/192.168.0.1', tag: '80', full: 'docker.io/library/192.168.0.1:80', familiar: '192.168.0.1:80' },
  { input: 'foo/foo_bar.com:8080', domain: 'docker.io', path: 'foo/foo_bar.com', tag: '8080', full: 'docker.io/foo/foo_bar.com:8080', familiar: 'foo/foo_bar.com:8080' },
  { input: 'lowercase:Uppercase', domain: 'docker.io', path: 'library/lowercase', tag: 'Uppercase', full: 'docker.io/library/lowercase:Uppercase', familiar: 'lowercase:Uppercase' },
  // Bracketed IPv6 registries.
  { input: '[2001:db8::1]/repo', domain: '[2001:db8::1]', path: 'repo', full: '[2001:db8::1]/repo', familiar: '[2001:db8::1]/repo' },
  { input: '[::1]:5000/repo', domain: '[::1]:5000', path: 'repo', full: '[::1]:5000/repo', familiar: '[::1]:5000/repo' },
  { input: '[fc00:1:2:3:4:5:6:7]:5000/library/debian', domain: '[fc00:1:2:3:4:5:6:7]:5000', path: 'library/debian', full: '[fc00:1:2:3:4:5:6:7]:5000/library/debian', familiar: '[fc00:1:2:3:4:5:6:7]:5000/library/debian' },
  { input: `[2001:db8::1]:5000/repo:tag@${DF}`, domain: '[2001:db8::1]:5000', path: 'repo', tag: 'tag', digest: DF, full: `[2001:db8::1]:5000/repo:tag@${DF}`, familiar: `[2001:db8::1]:5000/repo:tag@${DF}` },
  // Digests, with and without a tag.
  { input: `test:5000/repo@${DF}`, domain: 'test:5000', path: 'repo', digest: DF, full: `test:5000/repo@${DF}`, familiar: `test:5000/repo@${DF}` },
  { input: `xn--7o8h.com/myimage:xn--7o8h.com@${DF}`, domain: 'xn--7o8h.com', path: 'myimage', tag: 'xn--7o8h.com', digest: DF, full: `xn--7o8h.com/myimage:xn--7o8h.com@${DF}`, familiar: `xn--7o8h.com/myimage:xn--7o8h.com@${DF}` },
  { input: `busybox:latest@${D86}`, domain: 'docker.io', path: 'library/busybox', tag: 'latest', digest: D86, full: `docker.io/library/busybox:latest@${D86}`, familiar: `busybox:latest@${D86}` },
  { input: `redis@sha256:${DBCC}`, domain: 'docker.io', path: 'library/redis', digest: `sha256:${DBCC}`, full: `docker.io/library/redis@sha256:${DBCC}`, familiar: `redis@sha256:${DBCC}` },
  { input: `dmcgowan/myapp@sha256:${DBCC}`, domain: 'docker.io', path: 'dmcgowan/myapp', digest: `sha256:${DBCC}`, full: `docker.io/dmcgowan/myapp@sha256:${DBCC}`, familiar: `dmcgowan/myapp@sha256:${DBCC}` },
  // Hex names: only a bare 64-hex string is refused as ambiguous with an ID.
  { input: `docker.io/${HEX64}`, domain: 'docker.io', path: `library/${HEX64}`, full: `docker.io/library/${HEX64}`, familiar: HEX64 },
  { input: DBCC.slice(0, 63), domain: 'docker.io', path: `library/${DBCC.slice(0, 63)}`, full: `docker.io/library/${DBCC.slice(0, 63)}`, familiar: DBCC.slice(0, 63) },
  { input: 'dbcc1', domain: 'docker.io', path: 'library/dbcc1', full: 'docker.io/library/dbcc1', familiar: 'dbcc1' },
  // Without ParseAnyReference's ID check, 'sha256:<hex>' reads as name:tag; callers test looksLikeImageId first.
  { input: `sha256:${DBCC}`, domain: 'docker.io', path: 'library/sha256', tag: DBCC, full: `docker.io/library/sha256:${DBCC}`, familiar: `sha256:${DBCC}` },
  // Length limits: the path may be exactly 255, the tag exactly 128.
  { input: 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', domain: 'docker.io', path: 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', full: 'docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', familiar: 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev' },
  { input: `${'a/'.repeat(127)}a:tag-puts-this-over-max`, domain: 'docker.io', path: `${'a/'.repeat(127)}a`, tag: 'tag-puts-this-over-max', full: `docker.io/${'a/'.repeat(127)}a:tag-puts-this-over-max`, familiar: `${'a/'.repeat(127)}a:tag-puts-this-over-max` },
  { input: `example.com/${'a'.repeat(255)}:tag`, domain: 'example.com', path: 'a'.repeat(255), tag: 'tag', full: `example.com/${'a'.repeat(255)}:tag`, familiar: `example.com/${'a'.repeat(255)}:tag` },
  { input: `busybox:${'a'.repeat(128)}`, domain: 'docker.io', path: 'library/busybox', tag: 'a'.repeat(128), full: `docker.io/library/busybox:${'a'.repeat(128)}`, familiar: `busybox:${'a'.repeat(128)}` },
];

const INVALID: Array<{ input: string; message: string }> = [
  { input: '', message: 'invalid reference format' },
  { input: ':justtag', message: 'invalid reference format' },
  { input: `@${DF}`, message: 'invalid reference format' },
  { input: 'aa/asdf$$^/aa', message: 'invalid reference format' },
  { input: 'https://github.com/docker/docker', message: 'invalid reference format' },
  { input: 'busybox latest', message: 'invalid reference format' },
  // Empty and badly separated components.
  { input: 'a//b', message: 'invalid reference format' },
  { input: 'docker///docker', message: 'invalid reference format' },
  { input: 'docker.io/docker///docker', message: 'invalid reference format' },
  { input: 'docker/', message: 'invalid reference format' },
  { input: '-docker', message: 'invalid reference format' },
  { input: '-docker/docker', message: 'invalid reference format' },
  { input: '-docker.io/docker/docker', message: 'invalid reference format' },
  { input: 'docker-/docker', message: 'invalid reference format' },
  { input: '-docker-/docker', message: 'invalid reference format' },
  { input: '____/____', message: 'invalid reference format' },
  { input: '_docker/_docker', message: 'invalid reference format' },
  { input: 'dock..er/docker', message: 'invalid reference format' },
  { input: 'dock_.er/docker', message: 'invalid reference format' },
  { input: 'dock-.er/docker', message: 'invalid reference format' },
  // Uppercase in the repository path.
  { input: 'Uppercase:tag', message: 'invalid reference format: repository name (library/Uppercase) must be lowercase' },
  { input: 'library/Busybox', message: 'invalid reference format: repository name (library/Busybox) must be lowercase' },
  { input: 'docker/Docker', message: 'invalid reference format: repository name (docker/Docker) must be lowercase' },
  { input: 'docker.io/docker/Docker', message: 'invalid reference format: repository name (docker/Docker) must be lowercase' },
  { input: 'test:5000/Uppercase/lowercase:tag', message: 'invalid reference format: repository name (Uppercase/lowercase) must be lowercase' },
  // Host-like uppercase first component that is not a valid host: Parse's own lowercase check.
  { input: 'Foo_Bar/baz', message: 'repository name must be lowercase' },
  // Length limits.
  { input: `domain/${'a'.repeat(256)}:tag`, message: 'repository name must not be more than 255 characters' },
  { input: `${LONG_NS}/docker`, message: 'repository name must not be more than 255 characters' },
  { input: `busybox:${'a'.repeat(129)}`, message: 'invalid reference format' },
  // Tags.
  { input: 'busybox:', message: 'invalid reference format' },
  { input: 'busybox:-foo', message: 'invalid reference format' },
  { input: 'busybox:.foo', message: 'invalid reference format' },
  // Digests.
  { input: 'busybox@', message: 'invalid reference format' },
  { input: 'busybox@sha256:abc', message: 'invalid reference format' },
  { input: `repo@sha256:${'f'.repeat(34)}`, message: 'invalid checksum digest length' },
  { input: `validname@invaliddigest:${F64}`, message: 'unsupported digest algorithm' },
  { input: `validname@sha512:${'f'.repeat(128)}`, message: 'unsupported digest algorithm' },
  // go-digest: an unknown algorithm outside its grammar is malformed rather than unsupported.
  { input: `validname:tag@SHA256:${F64}`, message: 'invalid checksum digest format' },
  // Upstream's lowercase check looks at everything before the first ':', digest included.
  { input: `validname@SHA256:${F64}`, message: 'invalid reference format: repository name (library/validname@SHA256) must be lowercase' },
  { input: `validname@sha256:${'F'.repeat(64)}`, message: 'invalid checksum digest format' },
  // IPv6 forms that are refused.
  { input: '[2001:db8::1]', message: 'invalid reference format' },
  { input: '[2001:db8::1]:5000', message: 'invalid reference format' },
  { input: '[2001:db8::1]:tag', message: 'invalid reference format' },
  { input: '[fc00::1]', message: 'invalid reference format' },
  { input: 'fc00::1:5000/debian', message: 'invalid reference format' },
  { input: '[fe80::1%eth0]:5000/repo', message: 'invalid reference format' },
  { input: '[fe80::1%@invalidzone]:5000/repo', message: 'invalid reference format' },
  { input: '[2001:db8:3:4::192.0.2.33]:5000/debian', message: 'invalid reference format' },
  // Ambiguous with an image ID.
  { input: HEX64, message: `invalid repository name (${HEX64}), cannot specify 64-byte hexadecimal strings` },
];

test('the ported tables are big enough to mean something', () => {
  assert.ok(VALID.length + INVALID.length >= 40);
  assert.equal(new Set(VALID.map((c) => c.input)).size, VALID.length, 'duplicate valid input');
  assert.equal(new Set(INVALID.map((c) => c.input)).size, INVALID.length, 'duplicate invalid input');
});

for (const c of VALID) {
  test(`parses ${JSON.stringify(c.input.length > 80 ? `${c.input.slice(0, 77)}...` : c.input)}`, () => {
    const ref = parseReference(c.input);
    const want: ImageReference = { domain: c.domain, path: c.path };
    if (c.tag !== undefined) want.tag = c.tag;
    if (c.digest !== undefined) want.digest = c.digest;
    // deepEqual also catches stray `tag: undefined` keys.
    assert.deepEqual(ref, want);

    const suffix = (c.tag !== undefined ? `:${c.tag}` : '') + (c.digest !== undefined ? `@${c.digest}` : '');
    assert.ok(c.full.endsWith(suffix) && c.familiar.endsWith(suffix), 'table entry is self-consistent');
    assert.equal(fullString(ref), c.full);
    assert.equal(fullName(ref), c.full.slice(0, c.full.length - suffix.length));
    assert.equal(familiarString(ref), c.familiar);
    assert.equal(familiarName(ref), c.familiar.slice(0, c.familiar.length - suffix.length));

    // Both printed forms are stable under re-parsing, as Docker relies on,
    // except a familiar bare 64-hex name, which reads as an image ID.
    assert.deepEqual(parseReference(fullString(ref)), want);
    if (/^[a-f0-9]{64}$/.test(c.familiar)) assert.throws(() => parseReference(c.familiar), InvalidArgumentError);
    else assert.deepEqual(parseReference(familiarString(ref)), want);
  });
}

for (const c of INVALID) {
  test(`rejects ${JSON.stringify(c.input.length > 80 ? `${c.input.slice(0, 77)}...` : c.input)}`, () => {
    assert.throws(
      () => parseReference(c.input),
      (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
        assert.equal(e.message, c.message);
        return true;
      },
    );
  });
}

// TestParseDockerRef: a bare name gains ':latest'; a digest wins over a tag.
const DOCKER_REF: Array<[input: string, expected: string]> = [
  ['busybox', 'docker.io/library/busybox:latest'],
  ['busybox:latest', 'docker.io/library/busybox:latest'],
  [`busybox@${DE66}`, `docker.io/library/busybox@${DE66}`],
  ['library/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/library/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/busybox:latest', 'docker.io/library/busybox:latest'],
  ['library/busybox:latest', 'docker.io/library/busybox:latest'],
  ['docker.io/library/busybox:latest', 'docker.io/library/busybox:latest'],
  ['gcr.io/library/busybox', 'gcr.io/library/busybox:latest'],
  [`gcr.io/library/busybox:latest@${DE66}`, `gcr.io/library/busybox@${DE66}`],
];

for (const [input, expected] of DOCKER_REF) {
  test(`parseDockerRef ${input}`, () => {
    const ref = parseDockerRef(input);
    assert.equal(fullString(ref), expected);
    assert.deepEqual(parseReference(expected), ref);
  });
}

test('withDefaultTag adds latest only to a bare name and does not mutate its input', () => {
  const bare = parseReference('busybox');
  assert.deepEqual(withDefaultTag(bare), { domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
  assert.equal(bare.tag, undefined);
  assert.deepEqual(withDefaultTag(parseReference('busybox:1.36')), { domain: 'docker.io', path: 'library/busybox', tag: '1.36' });
  assert.deepEqual(withDefaultTag(parseReference(`busybox@${DE66}`)), { domain: 'docker.io', path: 'library/busybox', digest: DE66 });
  assert.equal(familiarString(withDefaultTag(parseReference('localhost:5000/x'))), 'localhost:5000/x:latest');
});

test('isDigest accepts only sha256 with 64 lowercase hex digits', () => {
  assert.equal(isDigest(DF), true);
  assert.equal(isDigest(DE66), true);
  assert.equal(isDigest(F64), false);
  assert.equal(isDigest(`sha256:${'F'.repeat(64)}`), false);
  assert.equal(isDigest(`sha256:${'f'.repeat(63)}`), false);
  assert.equal(isDigest(`sha256:${'f'.repeat(65)}`), false);
  assert.equal(isDigest(`sha512:${'f'.repeat(128)}`), false);
  assert.equal(isDigest(''), false);
});

test('looksLikeImageId accepts 12 to 64 hex digits, optionally sha256:-prefixed', () => {
  const yes = ['abcdef012345', DBCC, `sha256:${DBCC}`, 'sha256:abcdef012345', DBCC.slice(0, 20)];
  const no = ['abcdef01234', `${DBCC}0`, 'busybox', 'ABCDEF012345', 'sha256:abc', 'sha512:abcdef012345', 'abcdef01234g', ''];
  for (const s of yes) assert.equal(looksLikeImageId(s), true, s);
  for (const s of no) assert.equal(looksLikeImageId(s), false, s);
});

test('hostile long inputs fail fast instead of backtracking for ages', () => {
  const inputs = [
    `${'a'.repeat(100_000)}!`,
    `${'a-'.repeat(50_000)}!`,
    `${'a.'.repeat(50_000)}!`,
    `x.com/${'a_'.repeat(50_000)}!`,
    `${'a/'.repeat(50_000)}:!`,
    `x.com/a:${'b'.repeat(100_000)}`,
  ];
  for (const s of inputs) {
    const start = process.hrtime.bigint();
    assert.throws(() => parseReference(s), InvalidArgumentError);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 1000, `${s.slice(0, 20)}... took ${ms}ms`);
  }
});
