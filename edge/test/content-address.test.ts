/** contract/content-address.ts: canonical, sensitive to every input, and pinned. */
import { describe, expect, it } from 'vitest';
import { addressHeader, contentAddress, type AddressedTranslation } from '../../contract/content-address.ts';
import { translateParamsSchema } from '../../contract/translate-params.ts';

const params = (query: Record<string, string>) => translateParamsSchema.parse(query);
const base: AddressedTranslation = {
  model: { name: 'sa-munit', version: '1.0.0' },
  direction: 'a2b',
  params: params({ seed: '7' }),
  image: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
};

describe('contentAddress', () => {
  it('is the same for two spellings of the same request', async () => {
    const a = await contentAddress({ ...base, params: params({ seed: '7', n: '01', direction: 'circles-to-squares' }) });
    const b = await contentAddress({ ...base, params: params({ seed: '7', format: 'png', fit: 'cover', quality: '90' }) });
    expect(a).toBe(b);
  });

  it('changes with the model version, direction, any parameter, the image and a style image', async () => {
    const reference = await contentAddress(base);
    const variants = await Promise.all([
      contentAddress({ ...base, model: { name: 'sa-munit', version: '1.0.1' } }),
      contentAddress({ ...base, direction: 'b2a' }),
      contentAddress({ ...base, params: params({ seed: '8' }) }),
      contentAddress({ ...base, params: params({ seed: '7', format: 'jpeg' }) }),
      contentAddress({ ...base, params: params({ seed: '7', format: 'jpeg', quality: '80' }) }),
      contentAddress({ ...base, image: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 4]) }),
      contentAddress({ ...base, styleImage: new Uint8Array([1]) }),
    ]);
    expect(new Set([reference, ...variants]).size).toBe(variants.length + 1);
  });

  it('ignores quality for PNG (lossless; the function ignores it) but not for lossy formats', async () => {
    expect(await contentAddress({ ...base, params: params({ seed: '7', quality: '80' }) })).toBe(await contentAddress(base));
    expect(await contentAddress({ ...base, params: params({ seed: '7', format: 'webp', quality: '80' }) })).not.toBe(
      await contentAddress({ ...base, params: params({ seed: '7', format: 'webp' }) }),
    );
  });

  it('hashes a pinned canonical header (changing it needs ADDRESS_SCHEME_VERSION bumped)', async () => {
    const header = '{"direction":"a2b","model":{"name":"sa-munit","version":"1.0.0"},' +
      '"params":{"fit":"cover","format":"png","keep_aspect":false,"n":1,"seed":7},"scheme":2}';
    expect(await addressHeader(base)).toBe(header);
    // Scheme 2 layout: sha256(header ‖ 0x00 ‖ sha256(image)); the image is never copied behind the header.
    const imageDigest = new Uint8Array(await crypto.subtle.digest('SHA-256', base.image));
    const hashed = new Uint8Array([...new TextEncoder().encode(header), 0, ...imageDigest]);
    const expected = [...new Uint8Array(await crypto.subtle.digest('SHA-256', hashed))].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(await contentAddress(base)).toBe(expected);
  });
});
