/**
 * The slice of `cloudflare:test` the edge tests use, with structural types (the package's own
 * declarations need the Workers globals, which the repository's Node-typed tsconfig does not load;
 * an ambient module may not import relative paths, hence no reuse of src/bindings.ts here).
 */
declare module 'cloudflare:test' {
  export interface TestExecutionContext {
    waitUntil(promise: Promise<unknown>): void;
    passThroughOnException(): void;
    props: unknown;
  }
  export const env: {
    readonly RESULTS?: {
      get(key: string): Promise<unknown>;
      head(key: string): Promise<object | null>;
      put(key: string, value: ArrayBuffer, options?: object): Promise<unknown>;
      delete(keys: string | string[]): Promise<void>;
    };
    readonly API_KEYS?: { get(key: string): Promise<string | null>; put(key: string, value: string): Promise<void> };
    readonly RATE_LIMITER?: { limit(options: { key: string }): Promise<{ success: boolean }> };
    readonly TEST_RATE_LIMITER: { limit(options: { key: string }): Promise<{ success: boolean }> };
    readonly [variable: string]: unknown;
  };
  export interface TestSqlStorage {
    exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[] };
  }
  export interface TestDurableObjectState {
    readonly storage: { readonly sql: TestSqlStorage; setAlarm(scheduledTime: number): Promise<void> };
  }
  export function createExecutionContext(): TestExecutionContext;
  export function runInDurableObject<R>(stub: unknown, callback: (instance: unknown, state: TestDurableObjectState) => R | Promise<R>): Promise<R>;
  export function runDurableObjectAlarm(stub: unknown): Promise<boolean>;
  export function waitOnExecutionContext(ctx: TestExecutionContext): Promise<void>;
}
