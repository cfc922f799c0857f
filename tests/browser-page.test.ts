/**
 * The edge's web page in real headless Chromium, against the local stack (`npm start`'s: object
 * store, function, the edge under `wrangler dev` with its assets built by wrangler's [build]): a bundled sample translated into n styles that decode,
 * a result downloaded, a dropped file, the style-blend slider changing the output (and its ends matching the two
 * seeds' own results, so the browser's seed → style PRNG is the function's), errors shown in
 * words, and no horizontal scrolling at phone width (375 px). Screenshots go to
 * test-artifacts/browser/.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_OUTPUTS } from '../contract/translate-params.ts';
import { startLocalStack, type LocalStack } from '../infra/local/stack.ts';
import { collectProblems, decodedSize, imagePixels, launchChromium, maxPixelDifference, screenshot } from './support/chromium.ts';
import { LOCAL_STACK_ON_FREE_PORTS } from './support/local-stack.ts';

const STARTUP_MS = 240_000; // a function, wrangler dev with its asset build, Chromium, on a busy 2-core machine
const SEED = 1234;
const STYLES = 4;

let stack: LocalStack | undefined;
let browser: Browser | undefined;
let dataDir = '';

/** Lets the page finish its start-up (key lookup, wiring) before it is driven. */
async function openPage(page: Page, path = '/'): Promise<void> {
  await page.goto(`${stack!.edgeUrl}${path}`);
  // The page's module shows its key last thing before it wires the controls. A locator, not a
  // waitForFunction string: that would be eval'd in the page, which its CSP (script-src 'self') refuses.
  await page.locator('#key-source').filter({ hasNotText: /^…$/ }).waitFor({ timeout: 30_000 });
}

const unexpected = (problems: string[]) => problems.filter((problem) => !problem.includes('Failed to load resource'));

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'browser-page-'));
  // The page's default key is the one the local stack creates for the edge's own origins.
  stack = await startLocalStack({ ...LOCAL_STACK_ON_FREE_PORTS, dataDir });
  browser = await launchChromium();
}, STARTUP_MS);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (dataDir !== '') await rm(dataDir, { recursive: true, force: true });
});

describe('web page', () => {
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    page = await browser!.newPage({ viewport: { width: 1100, height: 900 } });
    problems = collectProblems(page);
    await openPage(page);
  });

  it('uses the edge\'s default key and offers the API\'s output counts and the model\'s directions', async () => {
    expect(await page.locator('#key-source').textContent()).toContain("this site's default key");
    expect(await page.locator('#count option').count()).toBe(MAX_OUTPUTS);
    await expect.poll(() => page.locator('#direction option').allTextContents()).toEqual(['circles → squares', 'squares → circles']);
  });

  it('translates a bundled sample into n styles that decode, one per seed, and downloads one', async () => {
    await page.locator('#count').selectOption(String(STYLES));
    await page.locator('#seed').fill(String(SEED));
    await page.locator('#samples button').first().click();
    const outputs = page.locator('#outputs li');
    await expect.poll(() => outputs.count(), { timeout: 30_000 }).toBe(STYLES);
    for (let i = 0; i < STYLES; i += 1) {
      expect(await decodedSize(outputs.nth(i).locator('img'))).toEqual({ width: 64, height: 64 });
      expect(await outputs.nth(i).locator('span').textContent()).toBe(`seed ${SEED + i}`);
    }
    const distinct = new Set(await Promise.all([0, 1, 2, 3].map(async (i) => (await imagePixels(outputs.nth(i).locator('img'))).toString('base64'))));
    expect(distinct.size).toBe(STYLES);

    const [download] = await Promise.all([page.waitForEvent('download'), outputs.first().locator('a').click()]);
    expect(download.suggestedFilename()).toBe(`circle-red-a2b-${SEED}.png`);
    const saved = await readFile((await download.path())!);
    expect([...saved.subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]); // "PNG"
    await screenshot(page, 'page-desktop-styles');
  });

  it('blends two styles with the slider: the output changes, and its ends are the two seeds\' results', async () => {
    const outputs = page.locator('#outputs li img');
    const blend = page.locator('#blend-output');
    expect(await page.locator('#blend-seed-a').inputValue()).toBe(String(SEED));
    expect(await page.locator('#blend-seed-b').inputValue()).toBe(String(SEED + 1));
    const showing = async (percent: number) => {
      await page.locator('#blend-slider').fill(String(percent));
      await expect.poll(() => blend.getAttribute('data-percent'), { timeout: 30_000 }).toBe(String(percent));
      return imagePixels(blend);
    };
    const atA = await showing(0);
    const atB = await showing(100);
    const between = await showing(50);
    expect(maxPixelDifference(atA, between)).toBeGreaterThan(8);
    expect(maxPixelDifference(atB, between)).toBeGreaterThan(8);
    await screenshot(page, 'page-desktop-blend-50');
    // style= computed by the browser's copy of the PRNG gives each seed's own image (within rounding:
    // a batch of 4 on one side, of 1 on the other).
    expect(maxPixelDifference(atA, await imagePixels(outputs.nth(0)))).toBeLessThanOrEqual(2);
    expect(maxPixelDifference(atB, await imagePixels(outputs.nth(1)))).toBeLessThanOrEqual(2);
    expect(unexpected(problems)).toEqual([]);
  });

  it('says in words what is wrong with a file that is not an image', async () => {
    await page.locator('#file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('just some text, not pixels') });
    const error = page.locator('#error');
    await expect.poll(() => error.isVisible(), { timeout: 30_000 }).toBe(true);
    const text = (await error.textContent()) ?? '';
    expect(text).toContain('Could not translate');
    expect(text).toContain('not a JPEG, PNG or WebP image');
    expect(text).toContain('unsupported_media_type');
    await screenshot(page, 'page-desktop-error');
    expect(unexpected(problems)).toEqual([]);
  });
});

describe('web page: drag and drop', () => {
  it('translates an image dropped on the drop zone', async () => {
    const page = await browser!.newPage();
    await openPage(page);
    // A real drop carries a DataTransfer with a File: built in the page from a sample's bytes.
    const dataTransfer = await page.evaluateHandle(async () => {
      // Runs in the page, which has DataTransfer (this file is typed for Node, which has not).
      const { DataTransfer: Transfer } = globalThis as unknown as { DataTransfer: new () => { items: { add(file: File): void } } };
      const bytes = await (await fetch('/samples/square-white.png')).blob();
      const transfer = new Transfer();
      transfer.items.add(new File([bytes], 'dropped-square.png', { type: 'image/png' }));
      return transfer;
    });
    await page.locator('#direction').selectOption('b2a');
    await page.locator('#count').selectOption('2');
    await page.locator('#drop-zone').dispatchEvent('dragover', { dataTransfer });
    await page.locator('#drop-zone').dispatchEvent('drop', { dataTransfer });
    await expect.poll(() => page.locator('#outputs li').count(), { timeout: 30_000 }).toBe(2);
    expect(await page.locator('#input-preview figcaption').textContent()).toBe('dropped-square.png');
    expect(await page.locator('#outputs li a').first().getAttribute('download')).toMatch(/^dropped-square-b2a-\d+\.png$/);
    await page.close();
  });
});

describe('web page: keys', () => {
  it('takes a key from the address (#key=…) over the default, and shows a refusal of it in words', async () => {
    const page = await browser!.newPage();
    await openPage(page, `/#key=pk_${'Q'.repeat(43)}`);
    expect(await page.locator('#key-source').textContent()).toContain('from the address');
    await page.locator('#samples button').nth(2).click();
    const error = page.locator('#error');
    await expect.poll(() => error.textContent(), { timeout: 30_000 }).toContain('unknown API key');
    await page.close();
  });
});

describe('web page at phone width', () => {
  it('fits 375 px without horizontal scrolling, before and after translating', async () => {
    const context = await browser!.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const problems = collectProblems(page);
    await openPage(page);
    const overflow = () => page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(await overflow()).toBe(0);
    await page.locator('#count').selectOption('8');
    await page.locator('#samples button').nth(3).click();
    await expect.poll(() => page.locator('#outputs li').count(), { timeout: 30_000 }).toBe(8);
    await expect.poll(() => page.locator('#blend-output').getAttribute('data-percent'), { timeout: 30_000 }).toBe('50');
    await page.locator('#key-settings summary').click();
    expect(await overflow()).toBe(0);
    await screenshot(page, 'page-phone-375');
    expect(unexpected(problems)).toEqual([]);
    await context.close();
  });
});
