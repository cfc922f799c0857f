/**
 * The browser surface the edge serves besides the API, named once for the Worker (which renders the
 * iframe page and the docs snippet) and the browser code in edge/page/ (which defines the element
 * and calls the routes):
 *
 * - the web page at `/` reads its default publishable key from PAGE_CONFIG_PATH;
 * - `<script type="module" src="…/embed.js">` defines EMBED_ELEMENT, a translate widget that finds
 *   the API next to its own script URL;
 * - EMBED_FRAME_PATH is the same widget in a page of its own, for sites that prefer an iframe.
 */

/** GET: the edge's own page configuration, JSON PageConfig. */
export const PAGE_CONFIG_PATH = '/page/config.json';

export interface PageConfig {
  /** The publishable key the page uses unless the visitor gives another (PAGE_PUBLISHABLE_KEY). */
  readonly publishableKey: string | null;
}

/** The widget module: one stable URL (no content hash), so third-party pages can link it. */
export const EMBED_SCRIPT_PATH = '/embed.js';

/** The custom element the widget module defines; attributes `key` and `direction`. */
export const EMBED_ELEMENT = 'sa-munit-translate';

/** GET ?key=pk_…&direction=a2b: the widget in a page of its own (CSP frame-ancestors per key). */
export const EMBED_FRAME_PATH = '/embed/frame';

/** The direction every browser surface uses when none is given. */
export const DEFAULT_DIRECTION = 'a2b';
