/**
 * The one exception to "a publishable key works only from its registered origins": a request whose
 * Origin is the edge's own origin (scheme, host and port of the request URL).
 *
 * Why it is needed: the edge serves two pages of its own that call the API from the browser — the
 * web page at `/` (with a visitor-supplied or configured key) and the iframe widget at
 * `/embed/frame?key=…`. In both, the browser sends the edge's origin, not the origin the key was
 * registered for.
 *
 * Why it is safe enough:
 * - An origin check only ever binds browsers: any other client can send any Origin header, so a
 *   key's origin list never protected the key from a determined caller. What it does is stop
 *   another site from spending the key in its visitors' browsers.
 * - Only the edge's own code runs on the edge's origin (it serves no user content), so no other
 *   site can script a page there. The one way to put such a page inside another site is the iframe
 *   widget, and its page carries `Content-Security-Policy: frame-ancestors <the key's registered
 *   origins>`, so browsers refuse to show it anywhere else (routes/embed-frame.ts).
 * - Opening the frame URL at top level spends the key only on what that visitor uploads themself,
 *   which is no more than anyone holding the (public) key can do with curl.
 *
 * Narrow on purpose: an exact match of scheme, host and port (not a sibling subdomain, another
 * port or http for https); publishable keys only (secret keys stay refused from every browser);
 * unknown and revoked keys are still 401.
 */
export function isEdgeOwnOrigin(requestUrl: string, origin: string): boolean {
  return origin.toLowerCase() === new URL(requestUrl).origin;
}
