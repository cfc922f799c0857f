/**
 * /embed.js, the widget's module (built as one file in library mode, stable URL):
 *
 *   <script type="module" src="https://EDGE/embed.js"></script>
 *   <sa-munit-translate key="pk_…" direction="a2b"></sa-munit-translate>
 *
 * The API is found next to this script, from its own URL (import.meta.url), so a third-party page
 * on another origin reaches the edge that served it. Calls carry that page's Origin, which must be
 * registered for the key; a refusal is shown inside the element.
 */
import { EMBED_ELEMENT } from '../../../../contract/embed.ts';
import { translateElementFor } from './translate-element.ts';

const apiBase = new URL(/* @vite-ignore */ './', import.meta.url);
// A page may load the script twice (two snippets); defining an element twice would throw.
if (customElements.get(EMBED_ELEMENT) === undefined) customElements.define(EMBED_ELEMENT, translateElementFor(apiBase));
