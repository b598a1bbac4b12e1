/**
 * The dependency direction the README states, pinned: core ← groups ← document ← reader ←
 * exporters ← CLI,
 * with no cycle anywhere. Reads the TypeScript sources (type-only imports count too: they are
 * dependencies of the design even where the compiled code drops them).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The tests run from build/test/; the sources are at the repository's root.
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const stat = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s+'(\.[^']+)'/g)].map((m) => m[1] ?? '');
  const bare = [...text.matchAll(/(?:^|\n)\s*import\s+'(\.[^']+)'/g)].map((m) => m[1] ?? '');
  const dynamic = [...text.matchAll(/import\('(\.[^']+)'\)/g)].map((m) => m[1] ?? '');
  return [...stat, ...bare, ...dynamic].map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
}

function modulesUnder(folder: string): string[] {
  return readdirSync(join(SRC, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(SRC, folder, name));
}

const name = (file: string): string => relative(SRC, file);

/** Every module reachable from `entry`, by name. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [join(SRC, entry)];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(name(file))) continue;
    seen.add(name(file));
    queue.push(...importsOf(file));
  }
  return seen;
}

test('the core imports no group, no device, no document', () => {
  for (const file of modulesUnder('metrics')) {
    for (const target of importsOf(file)) assert.ok(name(target).startsWith('metrics/'), `${name(file)} imports ${name(target)}`);
  }
});

test('guest memory stands alone; groups and devices import only the core, guest memory and their own', () => {
  for (const file of modulesUnder('vstate')) {
    for (const target of importsOf(file)) assert.ok(name(target).startsWith('vstate/'), `${name(file)} imports ${name(target)}`);
  }
  for (const folder of ['devices', 'logger']) {
    for (const file of modulesUnder(folder)) {
      for (const target of importsOf(file)) {
        const to = name(target);
        assert.ok(to.startsWith('metrics/') || to.startsWith('vstate/') || to.startsWith(`${folder}/`), `${name(file)} imports ${to}`);
      }
    }
  }
  assert.ok(!reachable('document/firecracker-metrics.ts').has('document/global-metrics.ts'));
});

test('vmm-metrics/reader builds no writer: the global document is not among its modules', () => {
  const modules = reachable('reader/index.ts');
  assert.ok(modules.has('document/firecracker-metrics.ts'), 'the reader derives its schema from the document');
  assert.ok(!modules.has('document/global-metrics.ts'));
  assert.ok(!modules.has('index.ts'));
});

test('the reader imports no exporter and no command; the exporters import no command', () => {
  for (const [folder, forbidden] of [
    ['reader', ['export/', 'cli/']],
    ['export', ['cli/']],
  ] as const) {
    for (const file of modulesUnder(folder)) {
      for (const target of importsOf(file)) {
        const to = name(target);
        assert.ok(!forbidden.some((prefix) => to.startsWith(prefix)), `${name(file)} imports ${to}`);
      }
    }
  }
  // A control plane serving its fleet builds no writer either.
  assert.ok(!reachable('export/serve/index.ts').has('document/global-metrics.ts'));
});

test('no module depends on itself through others (type-only imports included)', () => {
  const files = modulesUnder('.');
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (file: string, path: string[]): void => {
    const key = name(file);
    if (state.get(key) === 'done') return;
    assert.notEqual(state.get(key), 'visiting', `import cycle: ${[...path.slice(path.indexOf(key)), key].join(' → ')}`);
    state.set(key, 'visiting');
    for (const target of importsOf(file)) visit(target, [...path, key]);
    state.set(key, 'done');
  };
  for (const file of files) visit(file, []);
});

test('@opentelemetry/api is loaded only by vmm-metrics/otel, for its types: the root index does not reach it', () => {
  assert.ok(!reachable('index.ts').has('export/otel.ts'));
  for (const file of modulesUnder('.')) {
    if (name(file) === 'export/otel.ts') continue;
    assert.doesNotMatch(readFileSync(file, 'utf8'), /from '@opentelemetry\//, name(file));
  }
  const source = readFileSync(join(SRC, 'export/otel.ts'), 'utf8');
  assert.match(source, /^import type \{[^}]*\} from '@opentelemetry\/api';$/m);
  assert.doesNotMatch(source, /^import \{[^}]*\} from '@opentelemetry/m);
});

test('prom-client is loaded only by vmm-metrics/prometheus (its types) and by `npm start -- --serve`, on demand: the root index does not reach it', () => {
  assert.ok(!reachable('index.ts').has('export/prometheus.ts'));
  for (const file of modulesUnder('.')) {
    const source = readFileSync(file, 'utf8');
    if (name(file) === 'cli/microvm/serve.ts') {
      // Only when --serve is given: a session without it runs where prom-client is not installed.
      assert.doesNotMatch(source, /^import (?!type )[^;]*from 'prom-client'/m, name(file));
      assert.match(source, /await import\('prom-client'\)/, name(file));
      continue;
    }
    assert.doesNotMatch(source, /import\('prom-client'\)/, name(file));
    if (name(file) === 'export/prometheus.ts') continue;
    assert.doesNotMatch(source, /from 'prom-client'/, name(file));
  }
  assert.match(readFileSync(join(SRC, 'export/prometheus.ts'), 'utf8'), /^import type \{[^}]*\} from 'prom-client';$/m);
});

test('v86 is loaded only by vmm-metrics/v86 (its types, and loadV86 on demand): the root index and the devices do not reach it', () => {
  assert.ok(!reachable('index.ts').has('v86/index.ts'));
  assert.ok(!reachable('devices/virtio/index.ts').has('v86/index.ts'));
  for (const file of modulesUnder('.')) {
    const source = readFileSync(file, 'utf8');
    // No module of the package imports v86's code statically: it is an optional peer dependency.
    assert.doesNotMatch(source, /^import (?!type )[^;]*from 'v86'/m, name(file));
    if (name(file) === 'v86/guest.ts') continue;
    assert.doesNotMatch(source, /import\('v86'\)/, name(file));
    if (!name(file).startsWith('v86/')) assert.doesNotMatch(source, /from 'v86'/, name(file));
  }
  assert.match(readFileSync(join(SRC, 'v86/guest.ts'), 'utf8'), /await import\('v86'\)/);
});

test('the transports share one common configuration, named as Firecracker names it: no module device-state, no DeviceState', () => {
  const transport = modulesUnder('devices/virtio/transport').map(name);
  assert.ok(transport.includes('devices/virtio/transport/common-config.ts'));
  for (const file of modulesUnder('.')) {
    assert.doesNotMatch(name(file), /(?:^|\/)device-state\.ts$/);
    // Firecracker's DeviceState is a device's inactive/activated state; the name is not reused.
    assert.doesNotMatch(readFileSync(file, 'utf8'), /^export (?:class|interface|type|const|function) DeviceState\b/m, name(file));
  }
});

test('the transports reach the queue registers only through the common configuration', () => {
  const common = join(SRC, 'devices/virtio/transport/common-config.ts');
  for (const transport of ['devices/virtio/transport/mmio.ts', 'devices/virtio/transport/pci.ts']) {
    const file = join(SRC, transport);
    const source = readFileSync(file, 'utf8');
    assert.ok(importsOf(file).includes(common), `${transport} builds on common-config.ts`);
    // Queue is a type to a transport: it makes no queue and sets none up.
    assert.doesNotMatch(source, /^import (?!type )[^;]*from '\.\.\/queue\.js'/m, transport);
    assert.doesNotMatch(source, /\.(?:ready|maxSize|descTable|availRing|usedRing)\b/, `${transport} touches a queue's set-up itself`);
    assert.doesNotMatch(source, /[qQ]ueue\??\.size\b/, `${transport} touches a queue's size itself`);
    for (const call of ['setQueueSize(', 'setQueueReady(', "setQueueAddress('descTable', 'low'", "setQueueAddress('usedRing', 'high'"]) {
      assert.ok(source.includes(`common.${call}`), `${transport} sets up queues through the common configuration (${call})`);
    }
  }
});

/** The modules of src/ that declare `identifier` at their top level (a const, let, function or class). */
function declaring(identifier: string): string[] {
  const declaration = new RegExp(`^(?:export )?(?:const|let|function|class) ${identifier}\\b`, 'm');
  return modulesUnder('.')
    .filter((file) => declaration.test(readFileSync(file, 'utf8')))
    .map(name);
}

test('the balloon\'s wire format is declared once, in balloon/abi.ts, which imports nothing; the guest reaches the balloon through it alone', () => {
  const abi = join(SRC, 'devices/virtio/balloon/abi.ts');
  assert.deepEqual(importsOf(abi), [], 'abi.ts imports nothing');
  const exported = [...readFileSync(abi, 'utf8').matchAll(/^export const (\w+)/gm)].map((m) => m[1] ?? '');
  assert.ok(exported.includes('ACTUAL_PAGES_OFFSET') && exported.includes('SIZE_OF_STAT') && exported.includes('STAT_TAGS'));
  for (const constant of exported) assert.deepEqual(declaring(constant), ['devices/virtio/balloon/abi.ts'], constant);
  // Feature bits and hinting command ids under any name of the specification's families.
  for (const file of modulesUnder('.')) {
    if (name(file) === 'devices/virtio/balloon/abi.ts') continue;
    assert.doesNotMatch(readFileSync(file, 'utf8'), /^(?:export )?const (?:VIRTIO_BALLOON_F_|FREE_PAGE_HINT_|VIRTIO_BALLOON_S_)\w* =/m, name(file));
  }
  for (const file of modulesUnder('guest')) {
    for (const target of importsOf(file)) {
      const to = name(target);
      if (to.startsWith('devices/virtio/balloon/')) assert.equal(to, 'devices/virtio/balloon/abi.ts', `${name(file)} imports ${to}`);
    }
  }
  const balloonModules = [...reachable('guest/index.ts')].filter((module) => module.startsWith('devices/virtio/balloon/'));
  assert.deepEqual(balloonModules, ['devices/virtio/balloon/abi.ts'], 'vmm-metrics/guest loads no part of the device');
});

test('the guest imports guest memory, its own modules, and of the devices only the wire formats it speaks', () => {
  const wire = ['devices/virtio/balloon/abi.ts', 'devices/virtio/transport/registers.ts', 'devices/virtio/device.ts'];
  for (const file of modulesUnder('guest')) {
    for (const target of importsOf(file)) {
      const to = name(target);
      assert.ok(to.startsWith('guest/') || to.startsWith('vstate/') || wire.includes(to), `${name(file)} imports ${to}`);
    }
  }
  assert.deepEqual(declaring('LITTLE_ENDIAN_HOST'), ['vstate/memory.ts']);
});

test('no module exports a name under another name (`export { a as b }`): each thing has one name', () => {
  for (const file of modulesUnder('.')) {
    const source = readFileSync(file, 'utf8');
    for (const list of source.matchAll(/^export (?:type )?\{([^}]*)\}/gm)) {
      for (const specifier of (list[1] ?? '').split(',')) {
        const [local, exported] = specifier.replace(/^\s*type\s+/, '').trim().split(/\s+as\s+/);
        assert.ok(exported === undefined || exported === local, `${name(file)} exports ${local ?? ''} as ${exported ?? ''}`);
      }
    }
    assert.doesNotMatch(source, /^export \* as /m, name(file));
  }
});

test('every chain is walked and checked in devices/virtio/queue.ts: no other module reads a descriptor, follows NEXT or checks a buffer\'s range', () => {
  for (const file of modulesUnder('.')) {
    const module = name(file);
    if (module === 'devices/virtio/queue.ts' || module.startsWith('vstate/') || module === 'devices/virtio/index.ts') continue;
    const source = readFileSync(file, 'utf8');
    assert.doesNotMatch(source, /\.readDescriptor\(|VIRTQ_DESC_F_(?:NEXT|INDIRECT)\b|\.checkRange\(/, module);
  }
});

test('the simulated driver\'s parts stand below it, one class a module: its session, hinting, reporting and page stack never import the driver', () => {
  const parts = ['guest/balloon-session.ts', 'guest/free-page-hinting.ts', 'guest/free-page-reporting.ts', 'guest/page-stack.ts'];
  for (const part of parts) {
    for (const target of importsOf(join(SRC, part))) assert.notEqual(name(target), 'guest/balloon-driver.ts', `${part} imports the driver`);
  }
  assert.ok(!parts.some((part) => importsOf(join(SRC, part)).some((target) => name(target) === 'guest/balloon-session.ts')), 'the session holds its parts, not the other way round');
  for (const file of modulesUnder('guest')) {
    if (name(file) === 'guest/errors.ts') continue;
    const classes = [...readFileSync(file, 'utf8').matchAll(/^(?:export )?class (\w+)/gm)].map((m) => m[1]);
    assert.ok(classes.length <= 1, `${name(file)} declares ${classes.join(', ')}`);
  }
});

test('one describe() for a value a caller got wrong (metrics/describe.ts), one CHUNK_PAGES (vstate/memory.ts)', () => {
  // The reader's own describe() names JSON values, not unknown ones.
  assert.deepEqual(declaring('describe').filter((module) => !module.startsWith('reader/')), ['metrics/describe.ts']);
  assert.deepEqual(declaring('CHUNK_PAGES'), ['vstate/memory.ts']);
});

/** A module's code without its comments, for what it does rather than what its docs mention. */
function codeOf(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
}

test('one HTTP module: only export/http/server.ts makes a server and listens, both metrics servers answer through it, and it holds the default port', () => {
  const http = 'export/http/server.ts';
  for (const file of modulesUnder('.')) {
    if (name(file) === http) continue;
    // Type-only imports describe a server; only the HTTP module makes one.
    assert.doesNotMatch(readFileSync(file, 'utf8'), /^import (?!type )[^;]*from 'node:(?:http|https|http2)'/m, name(file));
    assert.doesNotMatch(codeOf(file), /\bcreateServer\b|\.listen\(/, name(file));
    assert.doesNotMatch(codeOf(file), /\b9464\b/, `${name(file)} spells the default port`);
  }
  assert.match(readFileSync(join(SRC, http), 'utf8'), /^import \{ createServer[^;]*from 'node:http';$/m);
  for (const server of ['export/serve/server.ts', 'cli/microvm/serve.ts']) assert.ok(reachable(server).has(http), `${server} answers through ${http}`);
  assert.match(codeOf(join(SRC, http)), /export const DEFAULT_SERVE_PORT = 9464;/);
});

test('the exporters and the commands give distinct things distinct names: no name is exported by two of their modules', () => {
  const exporters = new Map<string, string>();
  for (const file of [...modulesUnder('export'), ...modulesUnder('cli')]) {
    // Re-exports (`export { x } from`) name what another module declares; a const and its type share a name in one module.
    const declared = new Set([...readFileSync(file, 'utf8').matchAll(/^export (?:declare )?(?:abstract )?(?:const|let|function|async function|class|interface|type|enum) ([A-Za-z_$][\w$]*)/gm)].map((m) => m[1] ?? ''));
    for (const exported of declared) {
      assert.equal(exporters.get(exported), undefined, `${exported} is exported by ${exporters.get(exported) ?? ''} and ${name(file)}`);
      exporters.set(exported, name(file));
    }
  }
  assert.equal(exporters.get('MetricsServer'), 'export/http/server.ts');
  assert.equal(exporters.get('ServeOptions'), 'export/http/server.ts');
});

test("the fleet's rooms: following, exposition, serve's own families and the log's throttle each in a module of its own; fleet.ts composes them", () => {
  const serve = (file: string): string => `export/serve/${file}`;
  const importsBy = (file: string): string[] => importsOf(join(SRC, file)).map(name);
  const rooms = {
    following: serve('following.ts'),
    exposition: serve('fleet-exposition.ts'),
    selfMetrics: serve('self-metrics.ts'),
    throttle: serve('log-throttle.ts'),
  };
  // The fleet composes following, the exposition (which renders serve's own families from their
  // table) and the throttle, and does none of their jobs.
  const fleet = codeOf(join(SRC, serve('fleet.ts')));
  for (const room of [rooms.following, rooms.exposition, rooms.throttle]) assert.ok(importsBy(serve('fleet.ts')).includes(room), `fleet.ts uses ${room}`);
  assert.ok(importsBy(rooms.exposition).includes(rooms.selfMetrics));
  for (const job of [/familyHeader|ExpositionBuffer/, /new FollowedSource\b|watchDirectory/, /vmm_metrics_serve_/, /Date\.now|hrtime/, /kind: 'group'/]) {
    assert.doesNotMatch(fleet, job, 'fleet.ts');
  }
  // Following starts and stops sources (named, found in directories and by globs); it renders nothing and throttles nothing.
  assert.deepEqual(importsBy(rooms.following).sort(), [serve('directory.ts'), serve('followed-source.ts'), serve('glob.ts')]);
  // The exposition renders what it is given: it follows nothing.
  for (const target of importsBy(rooms.exposition)) assert.ok(![rooms.following, rooms.throttle, serve('directory.ts')].includes(target), `fleet-exposition.ts imports ${target}`);
  assert.doesNotMatch(codeOf(join(SRC, rooms.exposition)), /new FollowedSources?\b/);
  // Serve's own families are a table, declared once: only types imported, and no other module names them.
  assert.doesNotMatch(readFileSync(join(SRC, rooms.selfMetrics), 'utf8'), /^import (?!type )/m);
  for (const file of modulesUnder('.')) {
    if (name(file) !== rooms.selfMetrics) assert.doesNotMatch(codeOf(file), /['`]vmm_metrics_serve_/, name(file));
  }
  // The throttle stands alone.
  assert.deepEqual(importsBy(rooms.throttle), []);
});

test('the reader turns its schema back into entry shapes; no exporter converts a schema entry itself', () => {
  assert.match(readFileSync(join(SRC, 'reader/schema.ts'), 'utf8'), /^export function entryShape\(entry: SchemaEntry\): EntryShape \{$/m);
  for (const file of modulesUnder('export')) {
    assert.doesNotMatch(codeOf(file), /\bSchemaEntry\b|MetricsSchema\['entries'\]/, name(file));
  }
});

test("the reader states the writer's key order once, in reader/order.ts; both paths rank keys through it", () => {
  const order = codeOf(join(SRC, 'reader/order.ts'));
  assert.match(order, /export const HEADER_RANKS = \{\s*utc_timestamp_ms: \{ tier: 0/);
  assert.match(order, /export function compareKeyRanks\(/);
  for (const path of ['reader/validate.ts', 'reader/clean-line.ts']) {
    const code = codeOf(join(SRC, path));
    assert.ok(importsOf(join(SRC, path)).map(name).includes('reader/order.ts'), `${path} imports reader/order.ts`);
    assert.match(code, /\bcompareKeyRanks\b/, path);
    // No tiers, stages or device-before-aggregate rule of its own.
    assert.doesNotMatch(code, /\btier\b|AFTER_(?:TIMESTAMP|ID|PROPERTIES)|=== 'device' \? 0 : 1|utc_timestamp_ms: 0/, path);
  }
});

test('one thing, one name: plural() once; the reader describes JSON values by that name; no process-wide counter in the reader', () => {
  assert.deepEqual(declaring('plural'), ['reader/plural.ts']);
  assert.deepEqual(declaring('pluralNoun'), ['export/names.ts']);
  for (const file of modulesUnder('reader')) assert.doesNotMatch(codeOf(file), /function describe\(/, name(file));
  assert.match(codeOf(join(SRC, 'reader/validate.ts')), /function describeJsonValue\(value: JsonNode\): string/);
  // What a test wants to see (which path a line took) it asks through a hook, not a module's global.
  assert.doesNotMatch(codeOf(join(SRC, 'reader/validate.ts')), /^(?:export )?let /m);
});

test("the session's rooms: the simulated VM is simulated-vm.ts, and the Scenario type is beside the scenario", () => {
  const microvm = modulesUnder('cli/microvm').map(name);
  assert.ok(microvm.includes('cli/microvm/simulated-vm.ts'));
  assert.ok(!microvm.includes('cli/microvm/vm.ts'));
  assert.match(codeOf(join(SRC, 'cli/microvm/scenario.ts')), /^export interface Scenario \{/m);
  for (const file of modulesUnder('cli')) {
    if (name(file) !== 'cli/microvm/scenario.ts') assert.doesNotMatch(codeOf(file), /\binterface Scenario\b|\btype Scenario\b/, name(file));
  }
});
