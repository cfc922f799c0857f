/**
 * <sa-munit-translate key="pk_…" direction="a2b">: a visitor picks or drops an image, the element
 * translates it with the edge API and shows the result in place, with a "New style" button (the
 * same image again, the edge choosing a new random style seed) and a download link. Every failure
 * is shown inside the element in the API's own words (e.g. an origin not registered for the key).
 *
 * Plain custom element with an open shadow root; no dependencies, since it ships as /embed.js.
 */
import { DEFAULT_DIRECTION } from '../../../../contract/embed.ts';
import { ApiFailure, describeFailure, TranslationApi } from '../api/translation-api.ts';
import { acceptDroppedFile } from '../shared/drop-target.ts';
import { TRANSLATE_ELEMENT_CSS } from './translate-element-style.ts';

const TEMPLATE = `
<div class="box" part="box">
  <label class="pick" part="picker"><input type="file" accept="image/png,image/jpeg,image/webp"><span>Drop an image here or <u>choose one</u></span></label>
  <div class="images" hidden>
    <figure><img class="input" alt="Your image"><figcaption>Yours</figcaption></figure>
    <figure class="result" hidden><img class="output" alt="Translated image" part="result"><figcaption class="seed"></figcaption></figure>
  </div>
  <div class="actions" hidden><button type="button" class="restyle">New style</button><a class="download" download="translated.png">Download</a></div>
  <p class="status" role="status" aria-live="polite"></p>
  <p class="error" role="alert" part="error" hidden></p>
</div>`;

let sharedSheet: CSSStyleSheet | undefined;
function styleSheet(): CSSStyleSheet {
  if (sharedSheet === undefined) {
    sharedSheet = new CSSStyleSheet();
    sharedSheet.replaceSync(TRANSLATE_ELEMENT_CSS);
  }
  return sharedSheet;
}

/** The element class, bound to the API at `apiBase` (embed.ts passes the script's own origin). */
export function translateElementFor(apiBase: URL): CustomElementConstructor {
  return class TranslateElement extends HTMLElement {
    readonly #root = this.attachShadow({ mode: 'open' });
    readonly #api = new TranslationApi(apiBase, () => this.getAttribute('key') ?? undefined);
    #image: Blob | undefined;
    #inFlight: AbortController | undefined;
    #urls: { input?: string; output?: string } = {};

    constructor() {
      super();
      this.#root.adoptedStyleSheets = [styleSheet()];
      this.#root.innerHTML = TEMPLATE;
      const input = this.#part<HTMLInputElement>('input[type=file]');
      input.addEventListener('change', () => {
        const file = input.files?.[0];
        if (file !== undefined) this.#choose(file);
        input.value = ''; // choosing the same file again is a new request
      });
      this.#part<HTMLButtonElement>('.restyle').addEventListener('click', () => void this.#translate());
      // The whole element takes drops; the picker shows it (a class inside the shadow root, so the
      // host's own attributes stay the page's).
      const picker = this.#part<HTMLElement>('.pick');
      acceptDroppedFile(this, picker, (file) => this.#choose(file));
    }

    disconnectedCallback(): void {
      this.#inFlight?.abort();
    }

    #part<T extends Element>(selector: string): T {
      return this.#root.querySelector<T>(selector)!;
    }

    #show(which: 'input' | 'output', image: Blob): void {
      const previous = this.#urls[which];
      if (previous !== undefined) URL.revokeObjectURL(previous);
      const url = URL.createObjectURL(image);
      this.#urls[which] = url;
      this.#part<HTMLImageElement>(`img.${which}`).src = url;
      if (which === 'output') this.#part<HTMLAnchorElement>('.download').href = url;
    }

    #choose(file: Blob): void {
      this.#image = file;
      this.#show('input', file);
      this.#part<HTMLImageElement>('img.output').removeAttribute('src');
      this.#part<HTMLElement>('.result').hidden = true;
      this.#part<HTMLElement>('.images').hidden = false;
      void this.#translate();
    }

    async #translate(): Promise<void> {
      if (this.#image === undefined) return;
      this.#inFlight?.abort();
      const controller = new AbortController();
      this.#inFlight = controller;
      const error = this.#part<HTMLElement>('.error');
      const status = this.#part<HTMLElement>('.status');
      const restyle = this.#part<HTMLButtonElement>('.restyle');
      error.hidden = true;
      status.textContent = 'Translating…';
      restyle.disabled = true;
      try {
        // No seed: the edge picks a random one and says which (X-Seed).
        const [result] = await this.#api.translate(this.#image, { direction: this.getAttribute('direction') ?? DEFAULT_DIRECTION }, controller.signal);
        this.#show('output', result!.image);
        this.#part<HTMLElement>('.result').hidden = false;
        this.#part<HTMLElement>('.seed').textContent = result!.seed === null ? 'Translated' : `Style seed ${result!.seed}`;
        this.#part<HTMLElement>('.actions').hidden = false;
        status.textContent = '';
      } catch (failure) {
        if (controller.signal.aborted) return;
        status.textContent = '';
        error.textContent = `Could not translate: ${describeFailure(failure)}`;
        error.title = failure instanceof ApiFailure && failure.requestId !== undefined ? `${failure.code}, request id ${failure.requestId}` : '';
        error.hidden = false;
      } finally {
        if (this.#inFlight === controller) restyle.disabled = false;
      }
    }
  };
}
