/**
 * The widget's styles, applied as a constructed stylesheet (adoptedStyleSheets): scoped to its
 * shadow root, no <style> element, so hosts and the frame page need no 'unsafe-inline' style-src.
 * Custom properties let a host page restyle it: --sa-munit-accent, --sa-munit-radius.
 */
export const TRANSLATE_ELEMENT_CSS = `
:host { display: block; max-width: 22rem; font: 14px/1.4 system-ui, sans-serif; color: #1d1d1f; --accent: var(--sa-munit-accent, #3553d6); }
:host([hidden]) { display: none; }
.box { border: 1px solid #c9c9d0; border-radius: var(--sa-munit-radius, 10px); padding: .75rem; background: #fff; }
.pick { display: block; border: 2px dashed #aab; border-radius: 8px; padding: .9rem .5rem; text-align: center; cursor: pointer; }
.pick:hover, .pick:focus-within, .pick.dragging { border-color: var(--accent); background: #f3f5ff; }
.pick input { position: absolute; width: 1px; height: 1px; opacity: 0; }
.images { display: flex; gap: .5rem; margin-top: .6rem; }
figure { flex: 0 0 calc(50% - .25rem); margin: 0; text-align: center; }
img { width: 100%; aspect-ratio: 1; object-fit: contain; image-rendering: pixelated; background: #f0f0f3; border-radius: 6px; }
figcaption { font-size: 12px; color: #555; }
.actions { display: flex; gap: .5rem; align-items: center; margin-top: .6rem; }
button { font: inherit; padding: .35rem .8rem; border: 0; border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
a { color: var(--accent); }
.status { min-height: 1.2em; margin: .4rem 0 0; color: #555; }
.error { margin: .4rem 0 0; padding: .4rem .6rem; border-radius: 6px; background: #fdecec; color: #8a1010; }
[hidden] { display: none !important; }
`;
