/**
 * The web page at `/`: choose an image (drop, pick or a sample) and a direction, see n styles at
 * once, blend two styles with a slider, download any result. Errors are shown in the API's words.
 * This module only wires the page's parts together; each part is its own module.
 */
import './page.css';
import { DEFAULT_DIRECTION } from '../../../../contract/embed.ts';
import { ApiFailure, describeFailure, TranslationApi } from '../api/translation-api.ts';
import { watchImageSources, type ChosenImage } from './image-source.ts';
import { KeySource, type KeyOrigin } from './key-source.ts';
import { extensionOf, OutputGallery } from './output-gallery.ts';
import { blendedStyle } from './style-blend.ts';

/** The API's limit on outputs per request (contract/translate-params.ts MAX_OUTPUTS). */
const MAX_STYLES = 8;
const DEFAULT_STYLES = 4;
/** Seeds the page proposes: small enough to read and type. */
const PROPOSED_SEED_LIMIT = 100_000;
/** The demo model's style size, used until GET /v1/models says otherwise. */
const FALLBACK_STYLE_DIM = 8;
const BLEND_DELAY_MS = 150; // a slider drag sends one request once it rests, not one per step

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const direction = byId<HTMLSelectElement>('direction');
const count = byId<HTMLSelectElement>('count');
const seed = byId<HTMLInputElement>('seed');
const status = byId<HTMLParagraphElement>('status');
const errorBox = byId<HTMLParagraphElement>('error');
const preview = byId<HTMLElement>('input-preview');
const results = byId<HTMLElement>('results');
const blend = byId<HTMLElement>('blend');
const blendSeedA = byId<HTMLInputElement>('blend-seed-a');
const blendSeedB = byId<HTMLInputElement>('blend-seed-b');
const blendSlider = byId<HTMLInputElement>('blend-slider');
const blendOutput = byId<HTMLImageElement>('blend-output');
const blendDownload = byId<HTMLAnchorElement>('blend-download');
const keyInput = byId<HTMLInputElement>('key-input');

const keys = await KeySource.load();
const api = new TranslationApi(new URL('/', location.href), () => keys.current().key);
const gallery = new OutputGallery(byId<HTMLUListElement>('outputs'));
let chosen: ChosenImage | undefined;
let styleDim = FALLBACK_STYLE_DIM;
let translating: AbortController | undefined;
let blending: AbortController | undefined;
let blendTimer: ReturnType<typeof setTimeout> | undefined;
let blendUrl: string | undefined;

const proposeSeed = () => String(Math.floor(Math.random() * PROPOSED_SEED_LIMIT));

function showError(message: string, failure?: unknown): void {
  errorBox.textContent = message;
  if (failure instanceof ApiFailure && failure.requestId !== undefined) {
    const detail = document.createElement('small');
    detail.textContent = ` (${failure.code}, request id ${failure.requestId})`;
    errorBox.append(detail);
  }
  errorBox.hidden = false;
}

function clearError(): void {
  errorBox.hidden = true;
  errorBox.textContent = '';
}

const KEY_ORIGIN_WORDS: Record<KeyOrigin, string> = {
  address: 'from the address (#key=…)',
  typed: 'yours, remembered in this browser',
  'edge default': "this site's default key",
  none: 'none yet — enter a publishable key below',
};

function showKeySource(): void {
  const { key, origin } = keys.current();
  byId('key-source').textContent = key === undefined ? KEY_ORIGIN_WORDS[origin] : `${key.slice(0, 10)}… (${KEY_ORIGIN_WORDS[origin]})`;
  keyInput.value = origin === 'typed' ? (key ?? '') : '';
}

const downloadStem = () => `${(chosen?.name ?? 'image').replace(/\.[^.]*$/, '')}-${direction.value}`;

async function translateAll(): Promise<void> {
  if (chosen === undefined) {
    showError('Choose an image or a sample first.');
    return;
  }
  translating?.abort();
  const controller = new AbortController();
  translating = controller;
  const n = Number(count.value);
  clearError();
  status.textContent = n === 1 ? 'Translating…' : `Translating in ${n} styles…`;
  try {
    const outputs = await api.translate(chosen.image, { direction: direction.value, seed: seed.value, n: String(n) }, controller.signal);
    gallery.show(outputs, downloadStem());
    results.hidden = false;
    status.textContent = '';
    const first = outputs[0]?.seed ?? Number(seed.value);
    blendSeedA.value = String(first);
    blendSeedB.value = String(outputs[1]?.seed ?? first + 1);
    blend.hidden = false;
    scheduleBlend(0);
  } catch (failure) {
    if (controller.signal.aborted) return;
    status.textContent = '';
    gallery.clear();
    results.hidden = true;
    blend.hidden = true;
    showError(`Could not translate: ${describeFailure(failure)}`, failure);
  }
}

function scheduleBlend(delayMs = BLEND_DELAY_MS): void {
  clearTimeout(blendTimer);
  blendTimer = setTimeout(() => void renderBlend(), delayMs);
}

async function renderBlend(): Promise<void> {
  if (chosen === undefined || blendSeedA.value === '' || blendSeedB.value === '') return;
  blending?.abort();
  const controller = new AbortController();
  blending = controller;
  const percent = Number(blendSlider.value);
  try {
    const style = blendedStyle(Number(blendSeedA.value), Number(blendSeedB.value), percent / 100, styleDim);
    const [output] = await api.translate(chosen.image, { direction: direction.value, style }, controller.signal);
    if (blendUrl !== undefined) URL.revokeObjectURL(blendUrl);
    blendUrl = URL.createObjectURL(output!.image);
    blendOutput.src = blendUrl;
    blendOutput.dataset['percent'] = String(percent); // which blend is on screen (tests wait on it)
    byId('blend-caption').textContent = `${100 - percent}% seed ${blendSeedA.value}, ${percent}% seed ${blendSeedB.value}`;
    blendDownload.href = blendUrl;
    blendDownload.download = `${downloadStem()}-blend-${blendSeedA.value}-${blendSeedB.value}-${percent}.${extensionOf(output!.image.type)}`;
    blendDownload.hidden = false;
  } catch (failure) {
    if (controller.signal.aborted) return;
    showError(`Could not blend the styles: ${describeFailure(failure)}`, failure);
  }
}

function useImage(image: ChosenImage): void {
  chosen = image;
  if (image.direction !== undefined) direction.value = image.direction;
  const url = URL.createObjectURL(image.image);
  const previewImage = preview.querySelector('img')!;
  if (previewImage.src.startsWith('blob:')) URL.revokeObjectURL(previewImage.src);
  previewImage.src = url;
  preview.querySelector('figcaption')!.textContent = image.name;
  preview.hidden = false;
  void translateAll();
}

async function loadModels(): Promise<void> {
  try {
    const [model] = await api.models();
    if (model === undefined) return;
    styleDim = model.style_dim;
    const current = direction.value;
    direction.replaceChildren(
      new Option(`${model.domains.a} → ${model.domains.b}`, 'a2b'),
      new Option(`${model.domains.b} → ${model.domains.a}`, 'b2a'),
    );
    direction.value = current;
  } catch (failure) {
    showError(`Could not read the served model: ${describeFailure(failure)}`, failure);
  }
}

for (let n = 1; n <= MAX_STYLES; n += 1) count.append(new Option(String(n), String(n), n === DEFAULT_STYLES, n === DEFAULT_STYLES));
direction.value = DEFAULT_DIRECTION;
seed.value = proposeSeed();
showKeySource();
void loadModels();

watchImageSources(
  { dropZone: byId('drop-zone'), fileInput: byId<HTMLInputElement>('file-input'), samples: byId('samples') },
  useImage,
  (message) => showError(message),
);
byId<HTMLFormElement>('options').addEventListener('submit', (event) => {
  event.preventDefault();
  void translateAll();
});
byId('new-seed').addEventListener('click', () => {
  seed.value = proposeSeed();
  void translateAll();
});
blendSlider.addEventListener('input', () => scheduleBlend());
blendSeedA.addEventListener('change', () => scheduleBlend(0));
blendSeedB.addEventListener('change', () => scheduleBlend(0));
byId<HTMLFormElement>('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const typed = keyInput.value.trim();
  if (typed === '') keys.forget();
  else keys.remember(typed);
  showKeySource();
  if (chosen !== undefined) void translateAll();
});
byId('key-clear').addEventListener('click', () => {
  keys.forget();
  showKeySource();
});
