/**
 * The package's one HTTP module, through a real socket: its routes, HEAD, the answers to a
 * failing exposition, a port already taken, and close() with a connection still open.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DEFAULT_SERVE_PORT, serveMetrics, type MetricsEndpoints } from '../../../src/export/http/server.js';

const EXPOSITION = '# HELP x_total An x.\n# TYPE x_total counter\nx_total 1\n';

function endpoints(metrics: MetricsEndpoints['metrics'] = () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: EXPOSITION })): MetricsEndpoints {
  return { metrics, health: () => 'ok: fine\n' };
}

async function ask(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, body: await response.text() };
}

test('the routes: /metrics and /healthz for GET and HEAD, 404 elsewhere, 405 with Allow for other methods', async () => {
  const server = await serveMetrics(endpoints(), { port: 0 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.url, `http://127.0.0.1:${String(server.port)}`);
    const metrics = await ask(`${server.url}/metrics?name[]=x`);
    assert.deepEqual([metrics.status, metrics.headers.get('content-type'), metrics.body], [200, 'text/plain; version=0.0.4; charset=utf-8', EXPOSITION]);
    const head = await ask(`${server.url}/metrics`, { method: 'HEAD' });
    assert.deepEqual([head.status, head.headers.get('content-length'), head.body], [200, String(Buffer.byteLength(EXPOSITION)), '']);
    assert.deepEqual(await ask(`${server.url}/healthz`).then((a) => [a.status, a.body]), [200, 'ok: fine\n']);
    const missing = await ask(`${server.url}/metrics/`);
    assert.deepEqual([missing.status, missing.body], [404, 'not found: try /metrics or /healthz\n']);
    for (const path of ['/metrics', '/healthz']) {
      const post = await ask(`${server.url}${path}`, { method: 'POST', body: 'x' });
      assert.deepEqual([post.status, post.headers.get('allow'), post.body], [405, 'GET, HEAD', 'method POST not allowed: GET or HEAD\n']);
    }
  } finally {
    await server.close();
  }
});

test('an exposition that throws or rejects is a 500 saying why; the server goes on', async () => {
  let calls = 0;
  const server = await serveMetrics(
    endpoints(() => {
      calls++;
      if (calls === 1) throw new RangeError('too big');
      return Promise.reject(new Error('registry gone'));
    }),
    { port: 0 },
  );
  try {
    assert.deepEqual(await ask(`${server.url}/metrics`).then((a) => [a.status, a.body]), [500, 'cannot render the metrics: too big\n']);
    assert.deepEqual(await ask(`${server.url}/metrics`).then((a) => [a.status, a.body]), [500, 'cannot render the metrics: registry gone\n']);
    assert.equal((await ask(`${server.url}/healthz`)).status, 200);
  } finally {
    await server.close();
  }
});

test("a port already taken rejects with Node's error; the default port is 9464", async () => {
  assert.equal(DEFAULT_SERVE_PORT, 9464);
  const taken = createNetServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  try {
    const { port } = taken.address() as AddressInfo;
    await assert.rejects(serveMetrics(endpoints(), { port }), { code: 'EADDRINUSE' });
  } finally {
    taken.close();
  }
});

test('close() ends a connection a client keeps open, without waiting for it', async () => {
  const server = await serveMetrics(endpoints(), { port: 0 });
  const socket = connect(server.port, '127.0.0.1');
  await once(socket, 'connect');
  // Half a request: the server holds the connection, waiting for the rest.
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
  let reset: unknown;
  socket.on('error', (error) => (reset = error));
  // Not once(): it rejects on the 'error' a reset emits before 'close'.
  const ended = new Promise<'ended'>((resolve) => socket.on('close', () => { resolve('ended'); }));
  const closing = server.close();
  // A bound on a hang, not a measure of speed: a server that waited for the client would wait forever.
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([ended, new Promise<'still open'>((resolve) => (timer = setTimeout(resolve, 5_000, 'still open')))]);
  clearTimeout(timer);
  socket.destroy();
  await closing;
  assert.equal(outcome, 'ended');
  // Ended by the server: reset or closed, never answered.
  assert.ok(reset === undefined || (reset as NodeJS.ErrnoException).code === 'ECONNRESET', String(reset));
});
