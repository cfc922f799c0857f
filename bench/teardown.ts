/**
 * What a benchmark started (processes, temp folders, progress timers), stopped once and in
 * reverse order, on success, error or Ctrl-C/SIGTERM, so no run leaves a server behind.
 */
export interface Teardown {
  /** Registers a step; steps run last-added first. */
  add(step: () => Promise<unknown>): void;
  /** Runs every step once (later calls wait for the same run); a failing step is reported, not fatal. */
  run(): Promise<void>;
}

/** A teardown that also runs on SIGINT/SIGTERM, then exits 130/143; `what` names it in the notice. */
export function teardownOnSignals(what: string): Teardown {
  const steps: (() => Promise<unknown>)[] = [];
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => {
    running ??= (async () => {
      for (const step of steps.reverse()) {
        try {
          await step();
        } catch (error) {
          process.stderr.write(`teardown: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
    })();
    return running;
  };
  // `on`, not `once`: Ctrl-C reaches this process twice (from the terminal's process group and
  // relayed by tsx), and a second signal without a listener would kill it mid-teardown.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (running !== undefined) return;
      process.stderr.write(`\n${signal}: stopping ${what}\n`);
      void run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  return { add: (step) => steps.push(step), run };
}
