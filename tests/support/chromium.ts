/**
 * Real headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
 * playwright-core, with the flags that work as root in a container (shared/TOOLING.md), plus
 * screenshots kept as test artifacts (test-artifacts/browser/, gitignored) and a record of what a
 * page complained about (console errors such as CSP violations, uncaught exceptions).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const ARTIFACTS_DIR = resolve(import.meta.dirname, '../../test-artifacts/browser');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (shared/TOOLING.md)`);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A full-page screenshot in test-artifacts/browser/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Console errors and uncaught exceptions of a page (and its frames), collected as they happen. */
export function collectProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  return problems;
}

/**
 * What the page-side helpers below use of an <img>, typed here because this file is checked with
 * Node's types, not the DOM's (page callbacks run in the browser).
 */
interface PageImage {
  decode(): Promise<void>;
  readonly naturalWidth: number;
  readonly naturalHeight: number;
  readonly ownerDocument: {
    createElement(tag: 'canvas'): {
      width: number;
      height: number;
      getContext(kind: '2d'): {
        drawImage(image: PageImage, x: number, y: number): void;
        getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray };
      };
    };
  };
}

/**
 * The RGBA pixels of an <img> as the page shows them, read through a canvas (so no fetch, which a
 * page's CSP connect-src may rightly refuse for blob: URLs): to compare two results exactly.
 */
export async function imagePixels(image: Locator): Promise<Buffer> {
  const base64 = await image.evaluate(async (element) => {
    const img = element as unknown as PageImage;
    await img.decode();
    const canvas = img.ownerDocument.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let binary = '';
    for (const value of pixels) binary += String.fromCharCode(value);
    return btoa(binary);
  });
  return Buffer.from(base64, 'base64');
}

/** The largest difference of any channel of any pixel between two same-sized images (0-255). */
export function maxPixelDifference(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) return 255;
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** The decoded size of an <img>, after waiting for it to decode (rejects if it cannot). */
export function decodedSize(image: Locator): Promise<{ width: number; height: number }> {
  return image.evaluate(async (element) => {
    const img = element as unknown as PageImage;
    await img.decode();
    return { width: img.naturalWidth, height: img.naturalHeight };
  });
}
