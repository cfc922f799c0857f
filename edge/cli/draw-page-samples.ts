/**
 * Draws the web page's bundled samples (edge/page/public/samples/*.png): 64 px images in the style
 * of the demo model's domains, a shape on a two-colour gradient (model-export's benchmark data),
 * two circles (domain a) and two squares (domain b). Committed output; rerun only to change them:
 *
 *   npx tsx edge/cli/draw-page-samples.ts
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import sharp from 'sharp';

const SIZE = 64; // pixels: the demo model's image size
const OUT_DIR = resolve(import.meta.dirname, '../page/public/samples');

interface Sample {
  readonly file: string;
  readonly shape: 'circle' | 'square';
  /** Centre and extent (diameter or side) in pixels. */
  readonly x: number;
  readonly y: number;
  readonly extent: number;
  readonly colour: string;
  readonly gradient: readonly [string, string];
}

const SAMPLES: readonly Sample[] = [
  { file: 'circle-red.png', shape: 'circle', x: 30, y: 34, extent: 30, colour: '#e8202a', gradient: ['#2a3a8c', '#7ac8d8'] },
  { file: 'circle-green.png', shape: 'circle', x: 38, y: 26, extent: 22, colour: '#22dd55', gradient: ['#7a1e5a', '#e0b040'] },
  { file: 'square-white.png', shape: 'square', x: 34, y: 36, extent: 26, colour: '#ecebe4', gradient: ['#8c1040', '#4a3060'] },
  { file: 'square-black.png', shape: 'square', x: 26, y: 30, extent: 20, colour: '#2a2620', gradient: ['#2aa0d0', '#3050a0'] },
];

function svgOf(sample: Sample): string {
  const half = sample.extent / 2;
  const shape =
    sample.shape === 'circle'
      ? `<circle cx="${sample.x}" cy="${sample.y}" r="${half}" fill="${sample.colour}"/>`
      : `<rect x="${sample.x - half}" y="${sample.y - half}" width="${sample.extent}" height="${sample.extent}" fill="${sample.colour}"/>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">` +
    `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${sample.gradient[0]}"/>` +
    `<stop offset="1" stop-color="${sample.gradient[1]}"/></linearGradient></defs>` +
    `<rect width="${SIZE}" height="${SIZE}" fill="url(#g)"/>${shape}</svg>`
  );
}

await mkdir(OUT_DIR, { recursive: true });
for (const sample of SAMPLES) {
  const info = await sharp(Buffer.from(svgOf(sample))).png({ palette: true, colours: 64, compressionLevel: 9 }).toFile(resolve(OUT_DIR, sample.file));
  process.stdout.write(`${sample.file}: ${info.width}x${info.height}, ${info.size} bytes\n`);
}
