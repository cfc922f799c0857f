/** The Worker's entry point (edge/wrangler.toml `main`). */
import { createApp } from './app.ts';
import type { BackgroundWork, EdgeBindings } from './bindings.ts';

export { KeyQuota } from './quota/key-quota.ts';

const app = createApp();

export default {
  fetch(request: Request, env: EdgeBindings, ctx: BackgroundWork & { passThroughOnException(): void; props: unknown }): Response | Promise<Response> {
    return app.fetch(request, env, ctx);
  },
};
