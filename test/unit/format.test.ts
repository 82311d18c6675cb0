import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors';
import { parseTemplate, renderFormat, renderOne } from '../../src/cli/format/index';
import { sprintf } from '../../src/cli/format/printf';
import { tabwrite } from '../../src/cli/format/tabwriter';

const ctr = {
  ID: '4f66ad9a0b2e1d3c5b7a9f8e',
  Name: 'web',
  Size: 12.34,
  X: 'z',
  A: 1,
  B: 0,
  State: { Status: 'running', Running: true, Pid: 42, Health: null },
  Mounts: [{ Source: '/srv/a' }, { Source: '/srv/b' }],
  Labels: { 'com.x': 'yes', app: 'shop' },
  Args: ['-g', 'daemon off;'],
  Empty: [] as unknown[],
  EmptyMap: {},
};

const run = (src: string, data: unknown = ctr): string => parseTemplate(src).execute(data);

function throwsArg(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

// dependencies.md §10: the templates JS libraries failed on.
test('§10 table templates', () => {
  const cases: [string, string][] = [
    ['{{.ID}}', ctr.ID],
    ['{{.State.Status}}', 'running'],
    ['{{if .State.Running}}up{{else}}down{{end}}', 'up'],
    ['{{range .Mounts}}{{.Source}},{{end}}', '/srv/a,/srv/b,'],
    ['{{index .Labels "com.x"}}', 'yes'],
    ['{{json .State}}', '{"Status":"running","Running":true,"Pid":42,"Health":null}'],
    ['{{printf "%s-%.1f" .ID .Size}}', `${ctr.ID}-12.3`],
    ['{{.ID | printf "%q"}}', `"${ctr.ID}"`],
    ['{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}} {{end}}', '0=/srv/a 1=/srv/b '],
    ['{{len .Mounts}}', '2'],
    ['<  {{- .Name -}}  >', '<web>'],
    ['a{{/* c */}}b', 'ab'],
    ['a {{- /* c */ -}} b{{.Name  -}}  !', 'abweb!'],
    ['{{if eq .X "z"}}eq{{end}}', 'eq'],
  ];
  for (const [src, want] of cases) assert.equal(run(src), want, src);
});

test('if/else on running state, both branches', () => {
  const t = parseTemplate('{{if .State.Running}}up{{else}}down{{end}}');
  assert.equal(t.execute(ctr), 'up');
  assert.equal(t.execute({ State: { Running: false } }), 'down');
});

test('else if chains and with/else', () => {
  const t = parseTemplate('{{if eq .N 1}}one{{else if eq .N 2}}two{{else}}many{{end}}');
  assert.deepEqual([1, 2, 3].map((N) => t.execute({ N })), ['one', 'two', 'many']);
  assert.equal(run('{{with .State}}{{.Pid}}{{end}}'), '42');
  assert.equal(run('{{with .Nope}}x{{else}}none{{end}}'), 'none');
  assert.equal(run('{{with .Nope}}x{{else with .Name}}{{.}}{{end}}'), 'web');
});

test('multi-arg eq, ne and ordering', () => {
  assert.equal(run('{{if eq .X "y" "z"}}hit{{else}}miss{{end}}'), 'hit');
  assert.equal(run('{{if eq .X "y" "w"}}hit{{else}}miss{{end}}'), 'miss');
  assert.equal(run('{{ne .A 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}'), 'true true true true false');
  throwsArg(() => run('{{eq 1 "a"}}'), /error calling eq: incompatible types for comparison/);
});

test('and/or/not return Go values and short-circuit', () => {
  assert.equal(run('{{if and .A (not .B)}}ok{{end}}'), 'ok');
  assert.equal(run('{{and .A .B}}|{{or .B "" .Name}}|{{or .B ""}}|{{.Name | and 1}}'), '0|web||web');
  // `index .Args 9` would fail if evaluated.
  assert.equal(run('{{or .A (index .Args 9)}}'), '1');
  assert.equal(run('{{not .Empty}} {{not .EmptyMap}} {{not .Labels}}'), 'true true false');
});

test('range over maps is key-sorted; else branch; break/continue; range over int', () => {
  assert.equal(run('{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}'), 'app=shop;com.x=yes;');
  assert.equal(run('{{range .Empty}}x{{else}}empty{{end}}'), 'empty');
  assert.equal(run('{{range .Args}}x{{else}}empty{{end}}'), 'xx');
  assert.equal(run('{{range .Missing}}x{{else}}none{{end}}'), 'none');
  assert.equal(run('{{range $i, $e := .Args}}{{if eq $i 1}}{{break}}{{end}}{{$e}}{{end}}'), '-g');
  assert.equal(run('{{range $i, $e := .Args}}{{if eq $i 0}}{{continue}}{{end}}{{$e}}{{end}}'), 'daemon off;');
  assert.equal(run('{{range 3}}{{.}}{{end}}'), '012');
  assert.equal(run('{{range .Mounts}}{{$.Name}}:{{.Source}} {{end}}'), 'web:/srv/a web:/srv/b ');
});

test('variables: declare, assign across scopes, root $', () => {
  assert.equal(run('{{$x := .Name}}{{$x}}-{{$.X}}'), 'web-z');
  assert.equal(run('{{$n := 0}}{{range .Mounts}}{{$n = .Source}}{{end}}{{$n}}'), '/srv/b');
  throwsArg(() => run('{{if true}}{{$y := 1}}{{end}}{{$y}}'), /^template: :1: undefined variable "\$y"$/);
});

test('index (multi-key, arrays, maps), slice, len', () => {
  const d = { M: { a: { b: ['x', 'y'] } }, L: null, S: 'hello' };
  assert.equal(run('{{index .M "a" "b" 1}}', d), 'y');
  assert.equal(run('{{index .Args 0}}'), '-g');
  // Missing keys give the map's zero value: "" for string maps (labels) and nil maps.
  assert.equal(run('[{{index .Labels "nope"}}][{{index .L "k"}}]', d as never), '[][]');
  throwsArg(() => run('{{index .Args 5}}'), /^template: :1:2: executing "" at <index .Args 5>: error calling index: index out of range: 5$/);
  assert.equal(run('{{slice .S 1 3}} {{slice .Args 1}} {{len .S}} {{len .Labels}} {{len .L}}', { ...ctr, ...d }), 'el [daemon off;] 5 2 0');
});

test('Docker functions: json, join, split, title, lower, upper, pad, truncate', () => {
  assert.equal(run('{{join .Args ","}}'), '-g,daemon off;');
  assert.equal(run('{{upper .Name}} {{lower "AbC"}} {{title "hello wide-world"}}'), 'WEB abc Hello Wide-World');
  assert.equal(run('{{truncate .ID 12}}|{{truncate "ab" 12}}'), '4f66ad9a0b2e|ab');
  assert.equal(run('{{split "a:b:c" ":"}} {{index (split "a:b" ":") 1}}'), '[a b c] b');
  assert.equal(run('[{{pad .Name 2 1}}][{{pad "" 2 2}}]'), '[  web ][]');
  // Docker's encoder does not escape HTML; Go's json always escapes U+2028.
  assert.equal(run('{{json .}}', { a: '<b>&', n: [1, 2.5], u: undefined, s: '\u2028' }), '{"a":"<b>&","n":[1,2.5],"s":"\\u2028"}');
  assert.equal(run('{{json .Missing}}'), 'null');
  throwsArg(() => run('{{upper .A}}'), /wrong type for value; expected string; got int/);
});

test('print, println, html, urlquery, js', () => {
  assert.equal(run('{{print 1 2 "a" 3 .B}}'), '1 2a3 0');
  assert.equal(run('{{println "a" 1}}'), 'a 1\n');
  assert.equal(run(`{{html "<a href='x'>&"}}`), '&lt;a href=&#39;x&#39;&gt;&amp;');
  assert.equal(run('{{urlquery "a b&c=d/é"}}'), 'a+b%26c%3Dd%2F%C3%A9');
  assert.equal(run(`{{js "it's <b>"}}`), "it\\'s \\u003Cb\\u003E");
});

test('value printing follows Go %v', () => {
  assert.equal(run('{{.Labels}} {{.Args}} {{.Mounts}}'), 'map[app:shop com.x:yes] [-g daemon off;] [map[Source:/srv/a] map[Source:/srv/b]]');
  assert.equal(run('{{.State.Health}} {{.Missing}} {{true}} {{1.5}} {{-3}} {{0x1F}} {{1_000}} {{\'a\'}}'), '<nil> <no value> true 1.5 -3 31 1000 97');
  assert.equal(run('{{.F}} {{.G}} {{.H}}', { F: 1234567.5, G: 0.00001, H: [null] }), '1.2345675e+06 1e-05 [<nil>]');
  assert.equal(run('{{"a\\tb\\u00e9\\x41"}}{{`\\n`}}'), 'a\tbéA\\n');
});

test('printf verbs, flags and Go error forms', () => {
  const cases: [string, unknown[], string][] = [
    ['%s|%v|%d|%t|%%', ['a', 'b', 42, true], 'a|b|42|true|%'],
    ['[%-6s][%6s][%.2s]', ['ab', 'cd', 'xyz'], '[ab    ][    cd][xy]'],
    ['[%5d][%-5d][%05d][%+d][%x][%X][%o][%b][%#x]', [42, 42, -42, 7, 255, 255, 8, 5, 255], '[   42][42   ][-0042][+7][ff][FF][10][101][0xff]'],
    ['%f %.2f %8.3f %.0f %.0f %.2f', [1.5, 3.14159, 2.5, 2.5, 3.5, 0.125], '1.500000 3.14    2.500 2 4 0.12'],
    ['%e %E %g %g %g %.3g', [123456, 0.5, 0.0001, 1e21, 100000, 3.14159], '1.234560e+05 5.000000E-01 0.0001 1e+21 100000 3.14'],
    ['%q %q %x %c %U', ['a"b\n', 97, 'hi', 9731, 65], '"a\\"b\\n" \'a\' 6869 ☃ U+0041'],
    ['%v %v %5v|', [{ b: 2, a: 1 }, ['x', 1], 'y'], 'map[a:1 b:2] [x 1]     y|'],
    ['%d %s %t', ['x', 3, 1], '%!d(string=x) %!s(int=3) %!t(int=1)'],
    ['%d %d', [1], '1 %!d(MISSING)'],
    ['%d', [1, 'x', null], '1%!(EXTRA string=x, <nil>)'],
    ['%s %v %*d', [null, null, 4, 7], '%!s(<nil>) <nil>    7'],
    ['100%', [], '100%!(NOVERB)'],
  ];
  for (const [f, args, want] of cases) assert.equal(sprintf(f, args), want, f);
  assert.equal(run('{{printf "%-8s|%3d" .Name .A}}'), 'web     |  1');
});

test('methods: function-valued properties are called, with arguments and piped values', () => {
  const obj = {
    n: 2,
    Twice(this: { n: number }) {
      return this.n * 2;
    },
    Add: (a: unknown, b: unknown) => Number(a) + Number(b),
  };
  assert.equal(run('{{.Twice}} {{.Add 1 2}} {{3 | .Add 4}}', obj), '4 3 7');
  throwsArg(() => run('{{.n 1}}', obj), /n is not a method but has arguments/);
});

test('custom functions passed to parseTemplate', () => {
  const t = parseTemplate('{{shout .Name}}', { shout: (s) => `${String(s)}!` });
  assert.equal(t.execute(ctr), 'web!');
  throwsArg(() => parseTemplate('{{boom}}', { boom: () => { throw new Error('bang'); } }).execute({}), /error calling boom: bang/);
});

test('parse errors are InvalidArgumentError with Go messages and line numbers', () => {
  const cases: [string, RegExp][] = [
    ['{{.ID', /^template: :1: unclosed action$/],
    ['a\n{{foo .X}}', /^template: :2: function "foo" not defined$/],
    ['{{end}}', /^template: :1: unexpected \{\{end\}\}$/],
    ['{{if .X}}x', /^template: :1: unexpected EOF$/],
    ['{{else}}', /^template: :1: unexpected \{\{else\}\}$/],
    ['{{$x}}', /^template: :1: undefined variable "\$x"$/],
    ['{{/* c }}', /^template: :1: unclosed comment$/],
    ['{{"abc}}', /^template: :1: unterminated quoted string$/],
    ['{{(.X}}', /^template: :1: unclosed left paren$/],
    ['{{.X)}}', /^template: :1: unexpected right paren$/],
    ['{{}}', /^template: :1: missing value for command$/],
    ['{{if}}{{end}}', /^template: :1: missing value for if$/],
    ['{{.X | "s"}}', /^template: :1: non executable command in pipeline stage 2$/],
    ['{{break}}', /^template: :1: \{\{break\}\} outside \{\{range\}\}$/],
    ['{{1.2.3}}', /^template: :1: illegal number syntax: 1\.2\.3$/],
    ['{{"\\q"}}', /^template: :1: invalid syntax$/],
    ['{{define "x"}}{{end}}', /not supported/],
  ];
  for (const [src, re] of cases) throwsArg(() => parseTemplate(src), re);
});

test('execution errors carry line:col and the node, like Go', () => {
  throwsArg(() => run('{{.Name.Foo}}'), /^template: :1:7: executing "" at <\.Name\.Foo>: can't evaluate field Foo in type string$/);
  throwsArg(() => run('\n {{len 3}}'), /^template: :2:3: executing "" at <len 3>: error calling len: len of type int$/);
  throwsArg(() => run('{{nil}}'), /nil is not a command/);
  throwsArg(() => run('{{.Name 1}}'), /Name is not a method but has arguments/);
  throwsArg(() => run('{{upper}}'), /wrong number of args for upper: want 1 got 0/);
  throwsArg(() => run('{{range .Name}}{{end}}'), /range can't iterate over web/);
});

test('missing fields: "<no value>" by default, errors with missingKey=error', () => {
  // Go prints <no value> for a missing map key and for any field of it; for a
  // field of a nil value it would error — we print <no value> there too.
  assert.equal(run('{{.Missing.Deep}}|{{.State.Health.Status}}|{{.Labels.nope}}'), '<no value>|<no value>|<no value>');
  const strict = parseTemplate('{{.State.Nope}}', undefined, { missingKey: 'error' });
  throwsArg(() => strict.execute(ctr), /^template: :1:8: executing "" at <\.State\.Nope>: map has no entry for key "Nope"$/);
  throwsArg(() => renderOne('{{.State.Health.Status}}', ctr, { missingKey: 'error' }), /nil pointer evaluating interface \{\}\.Status/);
});

test('renderOne: executes once with newline; json mode; wrapped errors', () => {
  assert.equal(renderOne('{{.Name}} {{.State.Pid}}', ctr), 'web 42\n');
  assert.equal(renderOne('json', { a: 1, b: '<x>' }), '{"a":1,"b":"<x>"}\n');
  throwsArg(() => renderOne('{{foo}}', ctr), /^template parsing error: template: :1: function "foo" not defined$/);
  throwsArg(() => renderOne('{{.Name.X}}', ctr), /^template parsing error: template: :1:7: executing/);
});

const rows = [
  { ID: 'a1', Image: 'nginx:latest', Status: 'Up 2 minutes', Names: 'web' },
  { ID: 'b2', Image: 'redis', Status: 'Exited (0)', Names: 'cache' },
];
const headers = { ID: 'CONTAINER ID', Image: 'IMAGE', Status: 'STATUS', Names: 'NAMES' };

test('renderFormat table: headers, tabwriter alignment, unpadded last column', () => {
  const want =
    'CONTAINER ID   IMAGE          STATUS\n' +
    'a1             nginx:latest   Up 2 minutes\n' +
    'b2             redis          Exited (0)\n';
  // Real tabs, and the two-character `\t` the shell passes, both work.
  assert.equal(renderFormat('table {{.ID}}\t{{.Image}}\t{{.Status}}', rows, { defaultFormat: '', headers }), want);
  assert.equal(renderFormat('table {{.ID}}\\t{{.Image}}\\t{{.Status}}', rows, { defaultFormat: '', headers }), want);
});

test('renderFormat table: minwidth 10, fallback headers, no rows, default format', () => {
  const opts = { defaultFormat: 'table {{.ID}}\\t{{.Names}}', headers: { Names: 'NAMES' } };
  assert.equal(renderFormat('table {{.ID}}\t{{.CreatedAt}}', [{ ID: '1', CreatedAt: 'now' }], opts), 'ID        CREATED AT\n1         now\n');
  assert.equal(renderFormat('', [], opts), 'ID        NAMES\n');
  assert.equal(renderFormat('table', [rows[1]], opts), 'ID        NAMES\nb2        cache\n');
  // Header functions pass headers through (pad/upper do not touch them); text is kept.
  assert.equal(
    renderFormat('table {{.ID}}:\t{{pad .Names 1 1}}|', rows, { defaultFormat: '', headers }),
    'CONTAINER ID:   NAMES|\na1:              web |\nb2:              cache |\n',
  );
});

test('renderFormat: plain templates, json, errors', () => {
  const opts = { defaultFormat: 'table {{.ID}}' };
  assert.equal(renderFormat('{{.ID}}: {{.Names}}', rows, opts), 'a1: web\nb2: cache\n');
  assert.equal(renderFormat('{{.ID}}\\t{{.Names}}', rows, opts), 'a1\tweb\nb2\tcache\n');
  assert.equal(renderFormat('json', rows, opts), rows.map((r) => JSON.stringify(r) + '\n').join(''));
  throwsArg(() => renderFormat('{{.ID', rows, opts), /^template parsing error: template: :1: unclosed action$/);
  throwsArg(() => renderFormat('{{.ID.X}}', rows, opts), /^template parsing error: template: :1:5: executing "" at <\.ID\.X>/);
});

test('tabwriter column blocks end at lines without that column', () => {
  // "aaaa" does not widen the second block ("" and "ee": 2 + padding 1).
  assert.equal(tabwrite('aaaa\tb\nc\n\td\nee\tf', 0, 1), 'aaaa b\nc\n   d\nee f');
  assert.equal(tabwrite('a\tb\tc\nlonger\td', 0, 2), 'a       b  c\nlonger  d');
});

test('fuzz: random templates only ever fail with InvalidArgumentError', () => {
  const parts = ['{{', '}}', '{{- ', ' -}}', '.A', '.B.C', '$x', '$', ':=', '=', '|', '(', ')', '"s"', '`r`', '1', '-2', '2.5', 'if ', 'else ', 'end', 'range ', 'with ', 'printf ', 'len ', 'index ', 'and ', 'eq ', 'json ', ' ', '/*', '*/', 'nil', 'true', 'x', ',', 'break', '\n', "'a'", '"%d %s"', '.'];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const data = { A: [1, 'two', null], B: { C: { D: 3 } } };
  let parsed = 0;
  for (let i = 0; i < 8000; i++) {
    let src = rand(2) ? '{{' : '';
    for (let j = rand(12); j >= 0; j--) src += parts[rand(parts.length)];
    try {
      parseTemplate(src).execute(data);
      parsed++;
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) assert.fail(`${JSON.stringify(src)} threw ${String(e)}`);
    }
  }
  assert.ok(parsed > 50, `only ${parsed} templates parsed`);
});
