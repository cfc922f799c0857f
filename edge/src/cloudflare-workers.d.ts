/**
 * The slice of the runtime module `cloudflare:workers` the edge uses (see bindings.ts for why the
 * Workers types are not loaded globally). test/bindings-types.ts checks it against workers-types.
 */
declare module 'cloudflare:workers' {
  export interface DurableObjectStorageSlice {
    get<T>(key: string): Promise<T | undefined>;
    put<T>(key: string, value: T): Promise<void>;
    delete(key: string): Promise<boolean>;
  }
  export interface DurableObjectStateSlice {
    readonly storage: DurableObjectStorageSlice;
  }
  export abstract class DurableObject<Env = unknown> {
    protected ctx: DurableObjectStateSlice;
    protected env: Env;
    constructor(ctx: DurableObjectStateSlice, env: Env);
  }
}
