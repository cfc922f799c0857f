/**
 * Which publishable key the page sends, first match wins:
 * 1. `#key=pk_…` in the address (this visit only: a shared link can carry its own key);
 * 2. a key the visitor typed in, remembered in localStorage;
 * 3. the edge's default, PAGE_PUBLISHABLE_KEY, from GET /page/config.json.
 */
import { PAGE_CONFIG_PATH, type PageConfig } from '../../../../contract/embed.ts';

const STORAGE_KEY = 'sa-munit.publishable-key';

export type KeyOrigin = 'address' | 'typed' | 'edge default' | 'none';

function storedKey(): string | undefined {
  try {
    return localStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined; // storage disabled (private mode, sandboxed frame)
  }
}

export class KeySource {
  private constructor(
    private readonly fromAddress: string | undefined,
    private readonly edgeDefault: string | undefined,
  ) {}

  /** Reads the address and asks the edge for its default (none if that fails: typing one still works). */
  static async load(): Promise<KeySource> {
    const fromAddress = new URLSearchParams(location.hash.slice(1)).get('key') ?? undefined;
    const config = await fetch(PAGE_CONFIG_PATH)
      .then((response) => (response.ok ? (response.json() as Promise<PageConfig>) : undefined))
      .catch(() => undefined);
    return new KeySource(fromAddress === '' ? undefined : fromAddress, config?.publishableKey ?? undefined);
  }

  current(): { key: string | undefined; origin: KeyOrigin } {
    if (this.fromAddress !== undefined) return { key: this.fromAddress, origin: 'address' };
    const typed = storedKey();
    if (typed !== undefined) return { key: typed, origin: 'typed' };
    if (this.edgeDefault !== undefined) return { key: this.edgeDefault, origin: 'edge default' };
    return { key: undefined, origin: 'none' };
  }

  remember(key: string): void {
    try {
      localStorage.setItem(STORAGE_KEY, key);
    } catch {
      // not remembered; nothing else to do
    }
  }

  forget(): void {
    try {
      localStorage.removeItem(STORAGE_KEY);
    } catch {
      // nothing stored
    }
  }
}
