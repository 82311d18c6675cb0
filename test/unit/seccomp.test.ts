import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors';
import type { OciSeccomp, OciSyscall } from '../../src/runtime/oci-types';
import {
  defaultSeccompProfile,
  parseSeccompProfile,
  resolveSeccompProfile,
  type DockerSeccompProfile,
} from '../../src/runtime/seccomp';
import { DEFAULT_CAPABILITIES } from '../../src/runtime/spec';

const defaults = [...DEFAULT_CAPABILITIES];

function resolve(over: { arch?: string; kernel?: string; capabilities?: string[] } = {}): OciSeccomp {
  const r = resolveSeccompProfile(defaultSeccompProfile(), {
    arch: over.arch ?? 'x64',
    kernel: over.kernel ?? '6.1.0-13-amd64',
    capabilities: over.capabilities ?? defaults,
  });
  assert.ok(r, 'the default profile resolves to a filter');
  return r;
}

const rulesFor = (p: OciSeccomp, name: string): OciSyscall[] => (p.syscalls ?? []).filter((r) => r.names.includes(name));
const allowed = (p: OciSeccomp, name: string) => rulesFor(p, name).some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args);

test('embedded profile is Docker\'s: ERRNO(EPERM) default, archMap, rules', () => {
  const p = defaultSeccompProfile();
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 1);
  assert.ok((p.archMap ?? []).some((a) => a.architecture === 'SCMP_ARCH_X86_64'));
  assert.ok((p.syscalls ?? []).length > 30);
  // A copy per call: callers can't corrupt the cached profile.
  p.syscalls = [];
  assert.ok((defaultSeccompProfile().syscalls ?? []).length > 30);
});

test('x86_64: architectures with sub-architectures, no Docker-only fields leak', () => {
  const p = resolve();
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  for (const r of p.syscalls ?? []) {
    assert.deepEqual(Object.keys(r).filter((k) => !['names', 'action', 'errnoRet', 'args'].includes(k)), []);
  }
  assert.ok(allowed(p, 'read') && allowed(p, 'execve'));
  assert.ok(allowed(p, 'arch_prctl'), 'amd64-only rule included');
  assert.ok(allowed(p, 'modify_ldt'));
  assert.ok(!allowed(p, 's390_runtime_instr') && !allowed(p, 'set_tls'), 'other arches excluded');
});

test('arches the kernel cannot run are left out of the filter', () => {
  const r = resolveSeccompProfile(defaultSeccompProfile(), {
    arch: 'x64', kernel: '6.1.0-13-amd64', capabilities: defaults, deadArches: ['SCMP_ARCH_X32'],
  });
  assert.deepEqual(r?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
});

test('this kernel: x32 probe agrees with its build config when that is readable', async () => {
  const { kernelHasX32 } = await import('../../src/sys/libc');
  const { readFileSync } = await import('node:fs');
  const { release } = await import('node:os');
  let config: string;
  try {
    config = readFileSync(`/boot/config-${release()}`, 'utf8');
  } catch {
    return; // no config to compare with
  }
  if (process.arch !== 'x64') return;
  assert.equal(kernelHasX32(), /^CONFIG_X86_X32_ABI=y$/m.test(config));
});

test('arm64 and s390x get their own architectures and rules', () => {
  const arm = resolve({ arch: 'arm64' });
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.ok(allowed(arm, 'set_tls') && !allowed(arm, 'arch_prctl'));
  const s390 = resolve({ arch: 's390x' });
  assert.deepEqual(s390.architectures, ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390']);
  // s390 passes clone flags in the second argument.
  assert.deepEqual(rulesFor(s390, 'clone').map((r) => r.args?.[0]?.index), [1]);
  const unknown = resolve({ arch: 'sparc' });
  assert.equal(unknown.architectures, undefined);
});

test('ptrace follows minKernel 4.8 and CAP_SYS_PTRACE', () => {
  assert.ok(allowed(resolve({ kernel: '6.18.44-fc' }), 'ptrace'));
  assert.ok(allowed(resolve({ kernel: '4.8.0' }), 'ptrace'));
  assert.ok(!allowed(resolve({ kernel: '4.4.0-210-generic' }), 'ptrace'), 'old kernels: ptrace could bypass seccomp');
  assert.ok(allowed(resolve({ kernel: '4.4.0', capabilities: [...defaults, 'CAP_SYS_PTRACE'] }), 'ptrace'));
  assert.ok(!allowed(resolve(), 'kcmp'));
  assert.ok(allowed(resolve({ capabilities: [...defaults, 'CAP_SYS_PTRACE'] }), 'kcmp'));
  assert.throws(() => resolve({ kernel: 'garbage' }), InvalidArgumentError);
});

test('reboot only with CAP_SYS_BOOT', () => {
  assert.ok(!allowed(resolve(), 'reboot'));
  assert.equal(rulesFor(resolve(), 'reboot').length, 0);
  assert.ok(allowed(resolve({ capabilities: [...defaults, 'CAP_SYS_BOOT'] }), 'reboot'));
});

test('clone: namespace flags masked without CAP_SYS_ADMIN, free with it; clone3 → ENOSYS', () => {
  const p = resolve();
  const clone = rulesFor(p, 'clone');
  assert.deepEqual(clone, [
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }] },
  ]);
  assert.deepEqual(rulesFor(p, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);

  const admin = resolve({ capabilities: [...defaults, 'CAP_SYS_ADMIN'] });
  assert.ok(allowed(admin, 'clone') && allowed(admin, 'clone3') && allowed(admin, 'mount'));
  assert.ok(!rulesFor(admin, 'clone').some((r) => r.args), 'masked clone rule excluded with CAP_SYS_ADMIN');
  assert.ok(!rulesFor(admin, 'clone3').some((r) => r.action === 'SCMP_ACT_ERRNO'));
});

test('socket and personality argument rules are kept', () => {
  const p = resolve();
  assert.deepEqual(
    rulesFor(p, 'socket').map((r) => r.args),
    [
      [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }],
      [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }],
      [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }],
    ],
  );
  assert.equal(rulesFor(p, 'personality').length, 5);
});

test('custom profiles: name/names conflict, architectures + archMap, excludes.minKernel, empty', () => {
  const ctx = { arch: 'x64', kernel: '5.10.0', capabilities: defaults };
  const both: DockerSeccompProfile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ERRNO' }] };
  assert.throws(() => resolveSeccompProfile(both, ctx), /both 'name' and 'names'/);
  const archBoth: DockerSeccompProfile = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: null }],
  };
  assert.throws(() => resolveSeccompProfile(archBoth, ctx), /both 'architectures' and 'archMap'/);

  const p = parseSeccompProfile(
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { name: 'old', action: 'SCMP_ACT_ERRNO', excludes: { minKernel: '5.4' } },
        { name: 'new', action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { minKernel: '5.11' } },
        { names: ['kexec_load'], action: 'SCMP_ACT_KILL_PROCESS', args: [], includes: { caps: ['CAP_SYS_BOOT', 'CAP_SYS_ADMIN'] } },
      ],
    }),
  );
  assert.deepEqual(resolveSeccompProfile(p, ctx), {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['new'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
  });
  // includes.caps needs every listed cap.
  const withBoot = resolveSeccompProfile(p, { ...ctx, capabilities: [...defaults, 'CAP_SYS_BOOT'] });
  assert.equal(withBoot?.syscalls?.length, 1);
  const withBoth = resolveSeccompProfile(p, { ...ctx, capabilities: [...defaults, 'CAP_SYS_BOOT', 'CAP_SYS_ADMIN'] });
  assert.equal(withBoth?.syscalls?.length, 2);

  assert.equal(resolveSeccompProfile(parseSeccompProfile('{}'), ctx), undefined, 'empty profile = no filter, like Docker');
});

test('parseSeccompProfile rejects malformed profiles with Docker\'s prefix', () => {
  const bad = [
    'not json',
    '[]',
    '{"defaultAction":"SCMP_ACT_NOPE"}',
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"]}]}',
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}',
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":"read"}',
  ];
  for (const text of bad) {
    assert.throws(
      () => parseSeccompProfile(text),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith('Decoding seccomp profile failed'),
      text,
    );
  }
  assert.throws(
    () => parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}'),
    /invalid kernel version/,
  );
});
