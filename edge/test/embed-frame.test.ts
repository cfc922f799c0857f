/**
 * GET /embed/frame: the widget in a page of its own, shown only inside the key's registered origins
 * (CSP frame-ancestors, looked up per key on every request), and a plain refusal page otherwise.
 */
import { describe, expect, it } from 'vitest';
import { callEdge, createKey, revokeKey } from './edge-harness.ts';

const frame = (query: string) => callEdge(`/embed/frame?${query}`);

function directives(response: Response): Map<string, string> {
  const policy = response.headers.get('content-security-policy') ?? '';
  return new Map(policy.split(';').map((part) => part.trim().split(/\s+/)).map(([name, ...values]) => [name!, values.join(' ')]));
}

describe('embed frame: happy path', () => {
  it('hosts the widget with the key and direction, framable only by the key\'s registered origins', async () => {
    const { token } = await createKey('publishable', ['https://shop.example.com', 'http://localhost:5173']);
    const response = await frame(`key=${token}&direction=b2a`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const policy = directives(response);
    expect(policy.get('frame-ancestors')).toBe('https://shop.example.com http://localhost:5173');
    expect(policy.get('script-src')).toBe("'self'");
    expect(policy.get('connect-src')).toBe("'self'");
    expect(policy.get('default-src')).toBe("'none'");
    const html = await response.text();
    expect(html).toContain('<script type="module" src="/embed.js"></script>');
    expect(html).toContain(`<sa-munit-translate key="${token}" direction="b2a"></sa-munit-translate>`);
  });

  it('derives the policy from each key: two keys, two lists of ancestors', async () => {
    const first = await createKey('publishable', ['https://one.example']);
    const second = await createKey('publishable', ['https://two.example']);
    expect(directives(await frame(`key=${first.token}`)).get('frame-ancestors')).toBe('https://one.example');
    expect(directives(await frame(`key=${second.token}`)).get('frame-ancestors')).toBe('https://two.example');
  });

  it('defaults the direction to a2b', async () => {
    const { token } = await createKey('publishable', ['https://one.example']);
    expect(await (await frame(`key=${token}`)).text()).toContain('direction="a2b"');
  });
});

describe('embed frame: keys that cannot be embedded', () => {
  const refusalOf = async (response: Response) => {
    expect(response.headers.get('content-type')).toContain('text/html');
    // Nothing in it to protect: a refusal may be framed anywhere, so the embedding site sees why.
    expect(directives(response).has('frame-ancestors')).toBe(false);
    expect(directives(response).get('default-src')).toBe("'none'");
    const html = await response.text();
    expect(html).not.toContain('sa-munit-translate');
    expect(html).not.toContain('<script');
    return html;
  };

  it('unknown key → 401 saying so', async () => {
    const response = await frame(`key=pk_${'B'.repeat(43)}`);
    expect(response.status).toBe(401);
    expect(await refusalOf(response)).toContain('its API key is unknown');
  });

  it('revoked key → 401 saying so', async () => {
    const { token, id } = await createKey('publishable', ['https://one.example']);
    await revokeKey(token, id);
    const response = await frame(`key=${token}`);
    expect(response.status).toBe(401);
    expect(await refusalOf(response)).toContain('revoked');
  });

  it('secret key → 403 telling to revoke it, without repeating it', async () => {
    const { token } = await createKey('secret');
    const response = await frame(`key=${token}`);
    expect(response.status).toBe(403);
    const html = await refusalOf(response);
    expect(html).toContain('secret key');
    expect(html).not.toContain(token);
  });

  it('no key, or a direction that is not one → 400, nothing reflected', async () => {
    expect((await frame('direction=a2b')).status).toBe(400);
    const { token } = await createKey('publishable', ['https://one.example']);
    const response = await frame(`key=${token}&direction=${encodeURIComponent('"><script>alert(1)</script>')}`);
    expect(response.status).toBe(400);
    expect(await refusalOf(response)).not.toContain('alert(1)');
  });
});
