/**
 * The slice of the runtime module `cloudflare:workers` the edge uses (see bindings.ts for why the
 * Workers types are not loaded globally). test/bindings-types.ts checks it against workers-types.
 */
declare module 'cloudflare:workers' {
  export type SqlValue = ArrayBuffer | string | number | null;
  export interface SqlCursorSlice<T> extends Iterable<T> {
    toArray(): T[];
    one(): T;
    readonly rowsWritten: number;
  }
  export interface SqlStorageSlice {
    exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]): SqlCursorSlice<T>;
  }
  export interface DurableObjectStorageSlice {
    get<T>(key: string): Promise<T | undefined>;
    put<T>(key: string, value: T): Promise<void>;
    delete(key: string): Promise<boolean>;
    readonly sql: SqlStorageSlice;
    transactionSync<T>(closure: () => T): T;
    setAlarm(scheduledTime: number): Promise<void>;
    getAlarm(): Promise<number | null>;
  }
  export interface DurableObjectStateSlice {
    readonly id: { toString(): string };
    readonly storage: DurableObjectStorageSlice;
    waitUntil(promise: Promise<unknown>): void;
  }
  export abstract class DurableObject<Env = unknown> {
    protected ctx: DurableObjectStateSlice;
    protected env: Env;
    constructor(ctx: DurableObjectStateSlice, env: Env);
    alarm?(): Promise<void>;
  }
}
