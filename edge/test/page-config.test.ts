/** GET /page/config.json: the web page's default publishable key (PAGE_PUBLISHABLE_KEY), parsed by config.ts. */
import { describe, expect, it } from 'vitest';
import { mintApiKey } from '../src/auth/api-keys.ts';
import { callEdge } from './edge-harness.ts';

const readConfig = async (vars: Record<string, unknown>) => {
  const response = await callEdge('/page/config.json', {}, vars);
  return { response, body: (await response.json()) as unknown };
};

describe('page configuration', () => {
  it('hands out the configured publishable key, never cached', async () => {
    const { token } = await mintApiKey({ kind: 'publishable', name: 'page', origins: ['http://127.0.0.1:8787'] });
    const { response, body } = await readConfig({ PAGE_PUBLISHABLE_KEY: token });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(body).toEqual({ publishableKey: token });
  });

  it('answers null when no key is configured (unset or empty)', async () => {
    expect((await readConfig({})).body).toEqual({ publishableKey: null });
    expect((await readConfig({ PAGE_PUBLISHABLE_KEY: '' })).body).toEqual({ publishableKey: null });
  });

  it('refuses to start serving a secret key or a malformed one: 500 naming the variable', async () => {
    const { token } = await mintApiKey({ kind: 'secret', name: 'oops' });
    for (const value of [token, 'pk_short']) {
      const { response, body } = await readConfig({ PAGE_PUBLISHABLE_KEY: value });
      expect(response.status).toBe(500);
      const message = (body as { error: { code: string; message: string } }).error.message;
      expect(message).toContain('PAGE_PUBLISHABLE_KEY: must be a publishable key');
      expect(message).not.toContain(token);
    }
  });
});
