import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

interface Started {
  child: ChildProcess;
  port: number;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Starts the fixture service in its own process and waits for its "listening" line. */
async function startFixture(env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'graceful-service.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (line['msg'] === 'listening') resolve(Number(new URL(String(line['address'])).port));
      }
    });
    void exited.then((code) => reject(new Error(`fixture exited early with ${code}`)));
  });
  return { child, port, lines, exited };
}

describe('runService', function () {
  this.timeout(30_000);

  it('on SIGTERM finishes the in-flight request, runs shutdown steps in order and exits 0', async () => {
    const svc = await startFixture();
    const inFlight = fetch(`http://127.0.0.1:${svc.port}/slow?ms=700`);
    await new Promise((r) => setTimeout(r, 150));
    svc.child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { done: true });
    const code = await svc.exited;
    assert.equal(code, 0);
    const sequence = svc.lines
      .map((l) => (l['msg'] === 'shutdown step' ? `step:${String(l['step'])}` : String(l['msg'])))
      .filter((m) => m !== 'listening' && !m.startsWith('Server listening'));
    assert.deepEqual(sequence, [
      'shutting down: draining in-flight requests',
      'step:consumers',
      'step:pool',
      'shutdown complete',
    ]);
    // The listener is gone: new connections are refused.
    await assert.rejects(fetch(`http://127.0.0.1:${svc.port}/health`));
  });

  it('exits 1 when draining takes longer than the shutdown timeout', async () => {
    const svc = await startFixture({ SHUTDOWN_TIMEOUT_MS: '300' });
    const inFlight = fetch(`http://127.0.0.1:${svc.port}/slow?ms=5000`).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 150));
    svc.child.kill('SIGTERM');
    assert.equal(await svc.exited, 1);
    assert.ok(svc.lines.some((l) => l['msg'] === 'shutdown did not finish in time; exiting 1' && l['timeoutMs'] === 300));
    assert.ok(!svc.lines.some((l) => l['msg'] === 'shutdown complete'));
    assert.ok((await inFlight) instanceof Error, 'the unfinished request is cut off');
  });
});
