import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { aptInstall } from '../harness/apt.ts';

/**
 * Headless Chromium (Debian's `chromium` package, installed here when missing: CI runs as root on a fresh Debian
 * machine) driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: no WebSocket, no port), to load
 * a page, collect its console errors and uncaught exceptions, measure elements and take a screenshot.
 */

export function ensureChromium(): string {
  const found = () => spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
  if (!found()) aptInstall('chromium', 'chromium is missing', { recommends: false });
  if (!found()) throw new Error('apt-get installed chromium, but no `chromium` is on the PATH');
  return found();
}

export interface PageVisit {
  /** Console messages of level error, and uncaught exceptions, as text. */
  errors: string[];
  /** The page's screenshot, PNG. */
  screenshot: Buffer;
  /** Bounding boxes (CSS pixels from the page's top) of the elements matching the selector given to `visit`. */
  boxes: { x: number; y: number; width: number; height: number }[];
}

type Message = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: unknown;
  sessionId?: string;
};

export class Chromium {
  private readonly process: ChildProcess;
  private buffer = '';
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners: ((message: Message) => void)[] = [];

  constructor(binary: string) {
    this.process = spawn(
      binary,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--remote-debugging-pipe',
        '--no-first-run',
        '--hide-scrollbars',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    (this.process.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let end = this.buffer.indexOf('\0');
      while (end >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end)) as Message;
        this.buffer = this.buffer.slice(end + 1);
        end = this.buffer.indexOf('\0');
        const pending = message.id === undefined ? undefined : this.waiting.get(message.id);
        if (pending && message.id !== undefined) {
          this.waiting.delete(message.id);
          if (message.error) pending.reject(new Error(JSON.stringify(message.error)));
          else pending.resolve(message.result);
        }
        for (const listen of this.listeners) listen(message);
      }
    });
  }

  send<T = Record<string, unknown>>(method: string, params: object = {}, sessionId?: string): Promise<T> {
    const id = this.next++;
    const done = new Promise<T>((resolve, reject) =>
      this.waiting.set(id, { resolve: resolve as (r: unknown) => void, reject }),
    );
    (this.process.stdio[3] as Writable).write(
      `${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`,
    );
    return done;
  }

  /** Loads `url` at `width`×`height`, waits for load, and reads back errors, boxes of `selector` and a full screenshot. */
  async visit(url: string, selector: string, size = { width: 1100, height: 900 }): Promise<PageVisit> {
    const { targetId } = await this.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send<{ sessionId: string }>('Target.attachToTarget', {
      targetId,
      flatten: true,
    });
    const errors: string[] = [];
    let loaded: () => void = () => {};
    const load = new Promise<void>((resolve) => {
      loaded = resolve;
    });
    this.listeners.push((m) => {
      if (m.sessionId !== sessionId) return;
      const p = m.params ?? {};
      if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert'))
        errors.push(`console.${String(p.type)}: ${JSON.stringify(p.args)}`);
      if (m.method === 'Runtime.exceptionThrown')
        errors.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
      if (m.method === 'Log.entryAdded' && (p.entry as { level?: string })?.level === 'error')
        errors.push(`log: ${JSON.stringify(p.entry)}`);
      if (m.method === 'Page.loadEventFired') loaded();
    });
    for (const domain of ['Page', 'Runtime', 'Log']) await this.send(`${domain}.enable`, {}, sessionId);
    await this.send(
      'Emulation.setDeviceMetricsOverride',
      { ...size, deviceScaleFactor: 1, mobile: false },
      sessionId,
    );
    await this.send('Page.navigate', { url }, sessionId);
    await load;
    const { result } = await this.send<{ result: { value: string } }>(
      'Runtime.evaluate',
      {
        expression: `JSON.stringify([...document.querySelectorAll(${JSON.stringify(selector)})].map(e => { const r = e.getBoundingClientRect(); return { x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height }; }))`,
        returnByValue: true,
      },
      sessionId,
    );
    const { data } = await this.send<{ data: string }>(
      'Page.captureScreenshot',
      {
        format: 'png',
        captureBeyondViewport: true,
        clip: { x: 0, y: 0, ...(await this.pageSize(sessionId)), scale: 1 },
      },
      sessionId,
    );
    await this.send('Target.closeTarget', { targetId });
    return { errors, screenshot: Buffer.from(data, 'base64'), boxes: JSON.parse(result.value) };
  }

  private async pageSize(sessionId: string): Promise<{ width: number; height: number }> {
    const { cssContentSize } = await this.send<{ cssContentSize: { width: number; height: number } }>(
      'Page.getLayoutMetrics',
      {},
      sessionId,
    );
    return { width: Math.ceil(cssContentSize.width), height: Math.ceil(cssContentSize.height) };
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    await this.send('Browser.close').catch(() => undefined);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
