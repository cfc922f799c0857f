/**
 * The infrastructure files, checked without a cloud account:
 *
 * - infra/cloud-run/*.tf parse as HCL (HashiCorp's parser, via @cdktf/hcl2json); every variable,
 *   local and resource referenced exists and every variable is used; the service is the one the
 *   function needs (a GPU, probes on the v2 health endpoints, concurrency from the batch size,
 *   credentials from Secret Manager, the container port the Dockerfile exposes, environment
 *   variables the function knows). `terraform validate` itself needs the provider's schema
 *   (a download), so docs/deploy.md runs it as the first step of a deployment instead.
 * - infra/compose/docker-compose.yml passes dclint (the Compose Specification's JSON schema plus
 *   its best-practice rules) and asks for a GPU; the Caddyfile lets only the edge's token through.
 * - infra/edge/provision.sh against a stand-in wrangler that records what it is asked: resources
 *   created once, nothing on a second run, secrets fed on stdin.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
const TF_DIR = join(ROOT, 'infra/cloud-run');
const COMPOSE_DIR = join(ROOT, 'infra/compose');
const run = promisify(execFile);

// @cdktf/hcl2json's typings pull in the DOM library (`/// <reference lib="dom" />`), which clashes
// with Node's fetch types across the whole program; a specifier TypeScript does not resolve keeps
// them out, and this is the slice of its API used here.
const HCL2JSON: string = '@cdktf/hcl2json';
const { parse: parseHcl } = (await import(HCL2JSON)) as { parse(filename: string, contents: string): Promise<Record<string, any>> };

// Terraform's JSON form as hcl2json gives it: blocks are arrays, expressions are "${...}" strings.
type Block = Record<string, any>;

/** The Dockerfile's EXPOSE port and HEALTHCHECK command (the platform probes must agree with them). */
async function dockerfileFacts(file: string): Promise<{ port: number; healthcheck: string[]; cmd: string[] }> {
  const text = (await readFile(join(ROOT, file), 'utf8')).replace(/\\\n/g, ' ');
  const port = Number(/^EXPOSE (\d+)$/m.exec(text)?.[1]);
  const healthcheck = JSON.parse(/^HEALTHCHECK .*?CMD (\[.*\])$/m.exec(text)?.[1] ?? '[]') as string[];
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(text)?.[1] ?? '[]') as string[];
  return { port, healthcheck, cmd };
}

describe('infra/cloud-run (Terraform)', () => {
  let files: { name: string; text: string; json: Block }[];
  let merged: { variable: Block; locals: Block; resource: Block; output: Block; terraform: Block[] };
  let service: Block;
  let container: Block;

  beforeAll(async () => {
    const names = (await readdir(TF_DIR)).filter((name) => name.endsWith('.tf')).sort();
    files = [];
    for (const name of names) {
      const text = await readFile(join(TF_DIR, name), 'utf8');
      files.push({ name, text, json: await parseHcl(name, text) });
    }
    merged = { variable: {}, locals: {}, resource: {}, output: {}, terraform: [] };
    for (const { json } of files) {
      Object.assign(merged.variable, json['variable']);
      Object.assign(merged.output, json['output']);
      for (const locals of json['locals'] ?? []) Object.assign(merged.locals, locals);
      for (const [type, byName] of Object.entries((json['resource'] ?? {}) as Block)) {
        merged.resource[type] = { ...merged.resource[type], ...byName };
      }
      merged.terraform.push(...(json['terraform'] ?? []));
    }
    service = merged.resource['google_cloud_run_v2_service']?.['function']?.[0];
    container = service?.['template']?.[0]?.['containers']?.[0];
  });

  it('parses, and pins Terraform and the google provider', async () => {
    expect(files.map((f) => f.name)).toEqual(['main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']);
    const required = merged.terraform[0]?.['required_providers']?.[0]?.['google'];
    expect(required).toEqual({ source: 'hashicorp/google', version: '>= 6.47, < 8.0' });
    await expect(parseHcl('broken.tf', 'resource "x" "y" {\n  a = \n}\n')).rejects.toThrow(/Invalid expression/);
  });

  it('references only declared variables, locals and resources, and uses every variable', () => {
    const all = files.map((f) => f.text.replace(/^\s*#.*$/gm, '')).join('\n');
    const declared = new Set(Object.keys(merged.variable));
    const used = new Set([...all.matchAll(/\bvar\.([a-z_][a-z0-9_]*)/g)].map((m) => m[1] ?? ''));
    expect([...used].filter((name) => !declared.has(name))).toEqual([]);
    expect([...declared].filter((name) => !used.has(name))).toEqual([]);
    const locals = new Set(Object.keys(merged.locals));
    expect([...all.matchAll(/\blocal\.([a-z_][a-z0-9_]*)/g)].map((m) => m[1]).filter((name) => !locals.has(name ?? ''))).toEqual([]);
    const resources = new Set(Object.entries(merged.resource).flatMap(([type, byName]) => Object.keys(byName as Block).map((n) => `${type}.${n}`)));
    const referenced = [...all.matchAll(/\b(google_[a-z0-9_]+)\.([a-z0-9_]+)\b/g)].map((m) => `${m[1]}.${m[2]}`);
    expect(referenced.filter((ref) => !resources.has(ref))).toEqual([]);
    for (const [name, [variable]] of Object.entries(merged.variable) as [string, Block[]][]) {
      expect(variable?.['description'], `variable ${name} has a description`).toMatch(/\w/);
    }
  });

  it('terraform.tfvars.example sets only declared variables, and every variable without a default', async () => {
    const example = await parseHcl('terraform.tfvars', await readFile(join(TF_DIR, 'terraform.tfvars.example'), 'utf8'));
    const declared = merged.variable as Record<string, Block[]>;
    expect(Object.keys(example).filter((name) => !(name in declared))).toEqual([]);
    const required = Object.entries(declared).filter(([, [v]]) => !('default' in (v ?? {}))).map(([name]) => name);
    expect(required.filter((name) => !(name in example))).toEqual([]);
  });

  it('runs the function on one GPU, CPU always allocated, scaling and concurrency from the variables', async () => {
    const template = service['template'][0];
    expect(template['node_selector']).toEqual([{ accelerator: '${var.gpu_type}' }]);
    expect(template['gpu_zonal_redundancy_disabled']).toBe('${!var.gpu_zonal_redundancy}');
    expect(template['scaling']).toEqual([{ min_instance_count: '${var.min_instances}', max_instance_count: '${var.max_instances}' }]);
    expect(template['max_instance_request_concurrency']).toBe('${local.concurrency}');
    // Two batches in flight per GPU worker, and a queue that holds every admitted request's outputs.
    expect(merged.locals['concurrency']).toBe('${2 * var.max_batch_size * local.inference_workers}');
    expect(merged.locals['inference_workers']).toBe(1);
    expect(merged.locals['max_queue_length']).toBe('${local.concurrency * var.max_outputs_per_request}');
    expect(container['resources'][0]).toEqual({
      limits: { cpu: '${var.cpu}', memory: '${var.memory}', 'nvidia.com/gpu': '1' },
      cpu_idle: false,
      startup_cpu_boost: true,
    });
    const variables = merged.variable as Record<string, Block[]>;
    expect(variables['gpu_type']?.[0]?.['default']).toBe('nvidia-l4');
    // Cloud Run's minimum for an L4 instance: 4 vCPU and 16 GiB.
    expect(Number(variables['cpu']?.[0]?.['default'])).toBeGreaterThanOrEqual(4);
    expect(variables['memory']?.[0]?.['default']).toBe('16Gi');
    expect(variables['max_batch_size']?.[0]?.['default']).toBe(8);
  });

  it('probes the v2 health endpoints on the port the Dockerfile exposes; ready for start-up, live for liveness', async () => {
    const docker = await dockerfileFacts('functions/Dockerfile');
    expect(merged.locals['port']).toBe(docker.port);
    expect(container['ports']).toEqual([{ container_port: '${local.port}' }]);
    expect(container['startup_probe'][0]['http_get']).toEqual([{ path: '/v2/health/ready', port: '${local.port}' }]);
    expect(container['liveness_probe'][0]['http_get']).toEqual([{ path: '/v2/health/live', port: '${local.port}' }]);
    expect(docker.healthcheck.join(' ')).toContain('/v2/health/ready');
    const startup = container['startup_probe'][0];
    expect(startup['period_seconds'] * startup['failure_threshold']).toBeLessThanOrEqual(240);
  });

  it('passes the function only variables it knows, and its credentials from Secret Manager', async () => {
    const configSource = await readFile(join(ROOT, 'functions/config.ts'), 'utf8');
    const sdkVariables = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
    const plain = merged.locals['plain_env'] as string;
    const plainNames = [...plain.matchAll(/\b([A-Z][A-Z0-9_]+)\s*=/g)].map((m) => m[1] ?? '');
    const secretNames = Object.keys(merged.locals['secrets'] as Block);
    expect(new Set(secretNames)).toEqual(new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'ADMIN_TOKEN', 'FUNCTION_AUTH_TOKEN']));
    for (const name of [...plainNames, ...secretNames]) {
      expect(configSource.includes(`  ${name}:`) || sdkVariables.includes(name), `${name} is read by functions/config.ts or the AWS SDK`).toBe(true);
    }
    expect(plainNames).toEqual(expect.arrayContaining(['MODEL_SOURCE', 'AWS_REGION', 'MAX_BATCH_SIZE', 'MAX_QUEUE_LENGTH', 'EXECUTION_PROVIDER', 'AWS_ENDPOINT_URL_S3']));
    const dynamicEnv = container['dynamic']['env'] as Block[];
    expect(dynamicEnv.map((env) => env['for_each'])).toEqual(['${local.plain_env}', '${local.secrets}']);
    const secretEnv = dynamicEnv[1] as Block;
    expect(secretEnv['content'][0]['value_source'][0]['secret_key_ref'][0]).toEqual({
      secret: '${google_secret_manager_secret.env[env.key].secret_id}',
      version: 'latest',
    });
    // Secret values never pass through Terraform (they would land in its state).
    expect(merged.resource['google_secret_manager_secret_version']).toBeUndefined();
  });
});

describe('infra/compose (single GPU host)', () => {
  const dclint = (...args: string[]) =>
    run(process.execPath, [join(ROOT, 'node_modules/dclint/bin/dclint.cjs'), '--formatter', 'json', '--color', 'false', ...args], { cwd: ROOT }).then(
      ({ stdout }) => ({ code: 0, results: JSON.parse(stdout) as { messages: { rule: string; message: string }[] }[] }),
      (error: { code: number; stdout: string }) => ({ code: error.code, results: JSON.parse(error.stdout) as { messages: { rule: string; message: string }[] }[] }),
    );

  it('passes dclint: the Compose Specification schema and its best-practice rules, no warning', async () => {
    const { code, results } = await dclint('infra/compose/docker-compose.yml');
    expect(results[0]?.messages).toEqual([]);
    expect(code).toBe(0);
  });

  it('dclint does catch a compose file the schema rejects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compose-'));
    try {
      const broken = (await readFile(join(COMPOSE_DIR, 'docker-compose.yml'), 'utf8')).replace('stop_grace_period:', 'stop_grace_periode:');
      await writeFile(join(dir, 'docker-compose.yml'), broken);
      const { code, results } = await dclint(join(dir, 'docker-compose.yml'));
      expect(code).toBe(1);
      expect(results[0]?.messages.map((m) => m.rule)).toContain('invalid-schema');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('builds the GPU image, reserves a GPU, checks readiness like the Dockerfile, and lets only the edge in', async () => {
    const compose = parseYaml(await readFile(join(COMPOSE_DIR, 'docker-compose.yml'), 'utf8')) as Block;
    const fn = compose['services']['function'];
    expect(fn['build']).toEqual({ context: '../..', dockerfile: 'functions/Dockerfile' });
    expect(fn['deploy']['resources']['reservations']['devices']).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(fn['environment']['EXECUTION_PROVIDER']).toBe('cuda');
    const docker = await dockerfileFacts('functions/Dockerfile');
    // The Dockerfile's HEALTHCHECK, with the port it exposes written out.
    expect(fn['healthcheck']['test']).toEqual(['CMD', ...docker.healthcheck].map((part) => part.replace("'+(process.env.PORT||8080)+'", String(docker.port))));
    expect(fn['ports']).toBeUndefined(); // only the proxy is published
    expect(compose['services']['proxy']['depends_on']).toEqual({ function: { condition: 'service_healthy' } });
    const caddyfile = await readFile(join(COMPOSE_DIR, 'Caddyfile'), 'utf8');
    expect(caddyfile).toContain('@edge header Authorization "Bearer {$FUNCTION_AUTH_TOKEN}"');
    expect(caddyfile).toMatch(/handle @edge \{\s*reverse_proxy function:8080\s*\}/);
    expect(caddyfile).toMatch(/respond `\{"error":\{"code":"unauthorized"/);
  });
});

describe('infra/edge/provision.sh (against a stand-in wrangler)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provision-'));
    // Answers like wrangler 4 does (list formats included) and records every call, with stdin.
    await writeFile(
      join(dir, 'wrangler'),
      `#!/usr/bin/env bash
state=${dir}
echo "$*" >> "$state/calls"
case "$*" in
  whoami) echo "You are logged in" ;;
  "r2 bucket list") for b in $(cat "$state/buckets" 2>/dev/null); do printf 'name:           %s\\ncreation_date:  2026-11-27T00:00:00Z\\n\\n' "$b"; done ;;
  "r2 bucket create "*) echo "$4" >> "$state/buckets"; echo "Created bucket '$4'" ;;
  "kv namespace list") printf '['; sep=; while read -r t; do printf '%s{"id":"id-of-%s","title":"%s"}' "$sep" "$t" "$t"; sep=,; done < <(cat "$state/kv" 2>/dev/null); printf ']\\n' ;;
  "kv namespace create "*) echo "$4" >> "$state/kv"; echo "Creating namespace with title \\"$4\\"" ;;
  "queues list") printf '┌──────┐\\n│ name │\\n'; for q in $(cat "$state/queues" 2>/dev/null); do printf '│ %s │\\n' "$q"; done ;;
  "queues create "*) echo "$3" >> "$state/queues" ;;
  "r2 bucket lifecycle list "*) cat "$state/lifecycle" 2>/dev/null ;;
  "r2 bucket lifecycle add "*) echo "$5 $6" >> "$state/lifecycle" ;;
  "secret put "*) printf '%s=%s\\n' "$3" "$(cat)" >> "$state/secrets" ;;
  "deploy --dry-run --env production --outdir "*) echo "--dry-run: exiting now." ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;
esac
`,
    );
    await chmod(join(dir, 'wrangler'), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const provision = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn('bash', [join(ROOT, 'infra/edge/provision.sh'), ...args], {
        env: { PATH: process.env['PATH'] ?? '', WRANGLER: join(dir, 'wrangler'), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => done({ code, stdout, stderr }));
    });
  const calls = async () => (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).trim().split('\n').filter((l) => l !== '');

  it('is valid bash; without a command it prints its usage and exits 2', async () => {
    await run('bash', ['-n', join(ROOT, 'infra/edge/provision.sh')]);
    const usage = await provision([]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/infra\/edge\/provision\.sh resources/);
  });

  it('resources: creates the buckets, the KV namespace and the queues once, and prints the KV id', async () => {
    const first = await provision(['resources'], { R2_LOCATION: 'weur' });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe('id-of-sa-munit-api-keys');
    expect(first.stderr).toContain('id = "id-of-sa-munit-api-keys"');
    expect((await calls()).filter((c) => c.startsWith('r2 bucket lifecycle add'))).toEqual([
      'r2 bucket lifecycle add sa-munit-results expire-batch-uploads uploads/ --expire-days 7 --force',
    ]);
    expect((await calls()).filter((c) => / create /.test(c))).toEqual([
      'r2 bucket create sa-munit-results --location weur',
      'r2 bucket create sa-munit-models --location weur',
      'kv namespace create sa-munit-api-keys',
      'queues create sa-munit-batch',
      'queues create sa-munit-batch-dlq',
    ]);
    const before = (await calls()).length;
    const second = await provision(['resources']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe('id-of-sa-munit-api-keys');
    expect((await calls()).slice(before).filter((c) => / create | lifecycle add /.test(c))).toEqual([]);
  });

  it('secrets: FUNCTION_POOL (and the token, and the upload-signing secret) go to wrangler on stdin, never as arguments', async () => {
    const missing = await provision(['secrets']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/set FUNCTION_POOL/);
    const done = await provision(['secrets'], { FUNCTION_POOL: 'https://a.run.app,https://b.run.app', FUNCTION_AUTH_TOKEN: 'token-of-at-least-16' });
    expect(done.code, done.stderr).toBe(0);
    const written = (await readFile(join(dir, 'secrets'), 'utf8')).split('\n');
    expect(written.slice(0, 1)).toEqual(['FUNCTION_POOL=https://a.run.app,https://b.run.app']);
    // Made up when not given: 32 random bytes, base64url.
    expect(written[1]).toMatch(/^BATCH_UPLOAD_SECRET=[\w-]{43}$/);
    expect(written[2]).toBe('FUNCTION_AUTH_TOKEN=token-of-at-least-16');
    expect((await calls()).filter((c) => c.startsWith('secret put'))).toEqual([
      'secret put FUNCTION_POOL --env production',
      'secret put BATCH_UPLOAD_SECRET --env production',
      'secret put FUNCTION_AUTH_TOKEN --env production',
    ]);
  });
});
