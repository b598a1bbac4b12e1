/**
 * `npm start --serve` without `--`: npm takes the session's options for its own and the session
 * says what to type instead — with npm itself, in a project whose start script is the session,
 * and through `optionsNpmTook` for the cases npm's command line leaves ambiguous.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { optionsNpmTook } from '../../src/cli/microvm/npm-flags.js';
import { tempDir } from '../reader/helpers.js';

const session = fileURLToPath(new URL('../../src/cli/microvm/main.js', import.meta.url));
const OPTIONS = { serve: { type: 'boolean' }, 'duration-s': { type: 'string' }, vms: { type: 'string' }, port: { type: 'string' } } as const;

/** The environment without the npm of whoever runs the tests (npm test sets its own npm_*). */
function withoutNpm(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
}

test('npm start --serve --duration-s 3, with npm itself: exit 2 before the session starts, saying what to type', (t) => {
  const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' });
  if (npm.status !== 0) {
    process.stderr.write('\n*** SKIPPED: npm is not on PATH ***\n\n');
    t.skip('npm is not on PATH');
    return;
  }
  const { dir, remove } = tempDir('vmm-metrics-npm-start-');
  t.after(remove);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'session', version: '1.0.0', private: true, scripts: { start: `node ${JSON.stringify(session)}` } }));
  const run = (...args: string[]): { status: number | null; stderr: string } => spawnSync('npm', ['start', ...args], { cwd: dir, encoding: 'utf8', env: withoutNpm(), timeout: 60_000 });
  const both = run('--serve', '--duration-s', '3');
  assert.equal(both.status, 2, both.stderr);
  assert.match(both.stderr, /^npm took --serve and --duration-s for its own options: npm passes options to a script only after --\. Type:\n {2}npm start -- --serve --duration-s 3$/m);
  const serve = run('--serve');
  assert.equal(serve.status, 2, serve.stderr);
  assert.match(serve.stderr, /^ {2}npm start -- --serve$/m);
  assert.ok(!existsSync(join(dir, 'metrics.json')), 'no session ran');
});

test('what npm left is put back after its option; what it cannot say is asked for; outside npm start, nothing is said', () => {
  const start = { npm_lifecycle_event: 'start' };
  assert.equal(optionsNpmTook({ ...start }, [], OPTIONS), undefined);
  assert.equal(optionsNpmTook({ npm_lifecycle_event: 'test', npm_config_serve: 'true' }, [], OPTIONS), undefined, 'npm test is not the session');
  assert.equal(optionsNpmTook({ npm_config_serve: 'true' }, [], OPTIONS), undefined, 'not run by npm');
  assert.equal(
    optionsNpmTook({ ...start, npm_config_duration_s: '5', npm_config_serve: 'true' }, ['--vms', '2'], OPTIONS),
    'npm took --serve and --duration-s for its own options: npm passes options to a script only after --. Type:\n  npm start -- --serve --duration-s 5 --vms 2',
  );
  assert.equal(
    optionsNpmTook({ ...start, npm_config_duration_s: 'true', npm_config_vms: 'true' }, ['3', '2'], OPTIONS),
    'npm took --duration-s and --vms for its own options: npm passes options to a script only after --. Type:\n  npm start -- --duration-s VALUE --vms VALUE\n(npm left 3 2 for --duration-s and --vms: give each its own)',
  );
  assert.equal(optionsNpmTook({ ...start, npm_config_port: '9000' }, ['--port', '9464'], OPTIONS), undefined, 'given after --, it reached the session: the other came from an .npmrc');
});
