/**
 * The embeddable widget in real headless Chromium, the way a third-party site uses it: host pages
 * served by a tiny node:http server on other loopback ports (other origins than the edge's).
 *
 * - script: `<script type="module" src="EDGE/embed.js">` + `<sa-munit-translate key=… direction=…>`
 *   on an origin registered for the key translates; on an origin that is not, the API's refusal
 *   is visible inside the component;
 * - iframe: EDGE/embed/frame?key=… works inside a page of the registered origin (its requests come
 *   from the edge's own origin) and is refused by the browser elsewhere (CSP frame-ancestors).
 *
 * Screenshots go to test-artifacts/browser/.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../edge/cli/keys.ts';
import { startLocalStack, type LocalStack } from '../infra/local/stack.ts';
import { collectProblems, decodedSize, imagePixels, launchChromium, screenshot } from './support/chromium.ts';
import { freePort } from './support/function-process.ts';
import { LOCAL_STACK_ON_FREE_PORTS } from './support/local-stack.ts';

const STARTUP_MS = 240_000; // a function, wrangler dev with its asset build, Chromium, on a busy 2-core machine
const SAMPLE = resolve(import.meta.dirname, '../edge/page/public/samples/circle-red.png');

let stack: LocalStack | undefined;
let browser: Browser | undefined;
let dataDir = '';
let widgetKey = '';
const hosts: { registered?: Host; unregistered?: Host } = {};

interface Host {
  readonly origin: string;
  readonly server: Server;
}

/** A third-party site: `/` embeds the widget as a script, `/frame` as an iframe. */
async function startHost(port: number): Promise<Host> {
  const pages: Record<string, () => string> = {
    '/': () =>
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title>' +
      `<script type="module" src="${stack!.edgeUrl}/embed.js"></script></head>` +
      `<body><h1>A third-party page</h1><sa-munit-translate key="${widgetKey}" direction="a2b"></sa-munit-translate></body></html>`,
    '/frame': () =>
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop (iframe)</title></head>' +
      `<body><h1>A third-party page</h1><iframe src="${stack!.edgeUrl}/embed/frame?key=${widgetKey}&direction=a2b" title="Image translation" width="360" height="440"></iframe></body></html>`,
  };
  const server = createServer((request, response) => {
    const page = pages[request.url ?? ''];
    response.writeHead(page === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(page?.() ?? 'not found');
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return { origin: `http://127.0.0.1:${port}`, server };
}

/** Picks the sample in the widget (in `scope`: the page or the frame) and waits for its result. */
async function translateIn(scope: Pick<Page, 'locator'>): Promise<void> {
  await scope.locator('sa-munit-translate input[type=file]').setInputFiles(SAMPLE);
  await expect.poll(() => scope.locator('sa-munit-translate .seed').textContent(), { timeout: 30_000 }).toMatch(/^Style seed \d+$/);
  expect(await decodedSize(scope.locator('sa-munit-translate img.output'))).toEqual({ width: 64, height: 64 });
}

const unexpected = (problems: string[]) => problems.filter((problem) => !problem.includes('Failed to load resource'));

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'browser-widget-'));
  stack = await startLocalStack({ ...LOCAL_STACK_ON_FREE_PORTS, dataDir });
  const [registeredPort, unregisteredPort] = [await freePort(), await freePort()];
  // Registered the way a customer does it, in the running stack's key store.
  widgetKey = (
    await createKey(
      { remote: false, env: undefined, persistTo: stack.edgePersistDir },
      { kind: 'publishable', name: 'shop widget', origins: [`http://127.0.0.1:${registeredPort}`] },
    )
  ).token;
  hosts.registered = await startHost(registeredPort);
  hosts.unregistered = await startHost(unregisteredPort);
  browser = await launchChromium();
}, STARTUP_MS);

afterAll(async () => {
  await browser?.close();
  for (const host of [hosts.registered, hosts.unregistered]) {
    host?.server.closeAllConnections();
    await new Promise((done) => host?.server.close(done) ?? done(undefined));
  }
  await stack?.stop();
  if (dataDir !== '') await rm(dataDir, { recursive: true, force: true });
});

describe('widget as a script on a third-party page', () => {
  it('translates in place on an origin registered for the key, and restyles on demand', async () => {
    const page = await browser!.newPage({ viewport: { width: 800, height: 700 } });
    const problems = collectProblems(page);
    await page.goto(`${hosts.registered!.origin}/`);
    await translateIn(page);
    const widget = page.locator('sa-munit-translate');
    const firstSeed = await widget.locator('.seed').textContent();
    const firstPixels = await imagePixels(widget.locator('img.output'));
    await widget.locator('button.restyle').click();
    await expect.poll(() => widget.locator('.seed').textContent(), { timeout: 30_000 }).not.toBe(firstSeed);
    expect((await imagePixels(widget.locator('img.output'))).equals(firstPixels)).toBe(false);
    expect(await widget.locator('.error').isVisible()).toBe(false);
    expect(await widget.locator('a.download').getAttribute('href')).toMatch(/^blob:/);
    await screenshot(page, 'widget-script-registered');
    expect(unexpected(problems)).toEqual([]);
    await page.close();
  });

  it('shows the API\'s refusal inside the component on an origin that is not registered', async () => {
    const page = await browser!.newPage({ viewport: { width: 800, height: 700 } });
    await page.goto(`${hosts.unregistered!.origin}/`);
    await page.locator('sa-munit-translate input[type=file]').setInputFiles(SAMPLE);
    const error = page.locator('sa-munit-translate .error');
    await expect.poll(() => error.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await error.textContent()).toMatch(new RegExp(`^Could not translate: origin ${hosts.unregistered!.origin} is not registered for key key_[0-9a-f]{16}$`));
    expect(await page.locator('sa-munit-translate img.output').getAttribute('src')).toBeNull();
    await screenshot(page, 'widget-script-unregistered');
    await page.close();
  });
});

describe('widget in an iframe', () => {
  it('works inside a page of the key\'s registered origin', async () => {
    const page = await browser!.newPage({ viewport: { width: 800, height: 700 } });
    const problems = collectProblems(page);
    await page.goto(`${hosts.registered!.origin}/frame`);
    const frame = page.frameLocator('iframe');
    await translateIn(frame);
    await screenshot(page, 'widget-frame-registered');
    expect(unexpected(problems)).toEqual([]); // no CSP violation inside the frame either
    await page.close();
  });

  it('is refused by the browser inside a page of another origin (frame-ancestors)', async () => {
    const page = await browser!.newPage({ viewport: { width: 800, height: 700 } });
    const problems = collectProblems(page);
    await page.goto(`${hosts.unregistered!.origin}/frame`);
    await expect.poll(() => problems.some((problem) => problem.includes('frame-ancestors')), { timeout: 15_000 }).toBe(true);
    const frame = page.frames().find((candidate) => candidate !== page.mainFrame());
    expect(await frame?.locator('sa-munit-translate').count()).toBe(0);
    await screenshot(page, 'widget-frame-unregistered');
    await page.close();
  });
});
