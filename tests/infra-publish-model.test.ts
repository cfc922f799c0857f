/**
 * The model publishing command (infra/publish/) against a real S3-protocol server (s3rver): publish,
 * idempotent re-publish, immutability, pointer moves forward and back, `list` and `current`, and
 * the failures a person meets (bad arguments, a missing or damaged folder, an unreachable store, a
 * store returning other bytes than were sent, a pointer moved by someone else meanwhile).
 *
 * Most cases run the command in-process (runPublishCommand: arguments, environment and output in,
 * exit code out); one runs the real entry point as a process. s3rver ignores conditional writes,
 * so the cases that need them put a small proxy in front of it that answers If-Match /
 * If-None-Match on PUT the way AWS S3 and R2 do, can damage chosen downloads, and can run a step
 * of "someone else" just before a chosen request.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, NotFound } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { manifestDigest, parseModelPointer } from '../functions/registry/model-pointer.ts';
import { parseModelSource } from '../functions/registry/model-source.ts';
import { readExportFolder } from '../infra/publish/export-folder.ts';
import { ModelCatalog } from '../infra/publish/model-catalog.ts';
import { runPublishCommand } from '../infra/publish/publish-command.ts';
import { EXIT_CODES, PublishError } from '../infra/publish/publish-error.ts';
import { publishVersion } from '../infra/publish/publish-version.ts';
import { startS3Server, type S3TestServer } from './support/s3-server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SHAPES = join(ROOT, 'models/sa-munit-shapes');
const NAME = 'sa-munit-shapes';
/** The committed demo model's version, the first one each test publishes. */
const { version: V1, created_at: V1_CREATED_AT } = await loadManifestFromDir(SHAPES);
/** V1 inside a regular expression. */
const V1_RE = V1.replace(/\./g, '\\.');
const BUCKET = 'models';
const TO = `s3://${BUCKET}/published`;
const MODEL_PREFIX = `published/${NAME}/`;

let s3: S3TestServer;
let temps: string[] = [];

beforeAll(async () => {
  s3 = await startS3Server({ buckets: [BUCKET] });
});
afterAll(async () => {
  await s3.stop();
});
beforeEach(async () => {
  // Each case starts from an empty bucket.
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  for (const object of listed.Contents ?? []) if (object.Key !== undefined) await s3.deleteObject(BUCKET, object.Key);
});
afterEach(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
  temps = [];
});

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  /** stdout parsed as JSON (the commands print one JSON document). */
  json<T = Record<string, unknown>>(): T;
}

async function publishModel(args: string[], env: Record<string, string> = s3.env): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runPublishCommand(args, env, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err, json: <T>() => JSON.parse(out.join('\n')) as T };
}

/** A copy of the demo export with another version label (same graphs, so a distinct manifest). */
async function exportWithVersion(version: string, edit?: (dir: string) => Promise<void>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'publish-export-'));
  temps.push(dir);
  await cp(SHAPES, dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { version: string };
  if (manifest.version !== version) {
    manifest.version = version;
    await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  await edit?.(dir);
  return dir;
}

async function objectText(key: string): Promise<string | undefined> {
  try {
    return await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString();
  } catch {
    return undefined;
  }
}

async function objectSha256(key: string): Promise<string | undefined> {
  try {
    const bytes = await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToByteArray();
    return bytes === undefined ? undefined : createHash('sha256').update(bytes).digest('hex');
  } catch {
    return undefined;
  }
}

async function pointer() {
  const text = await objectText(`${MODEL_PREFIX}current.json`);
  return text === undefined ? undefined : parseModelPointer(text, 'current.json');
}

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe('publish', () => {
  it('uploads the folder under <name>/<version>/, verifies it, and moves nothing without --set-current', async () => {
    const run = await publishModel(['publish', SHAPES, '--to', TO]);
    expect(run.code, run.err.join('\n')).toBe(0);
    const result = run.json<{ name: string; version: string; uploaded: boolean; files: number; location: string }>();
    expect(result).toMatchObject({ name: NAME, version: V1, uploaded: true, location: `s3://${BUCKET}/${MODEL_PREFIX}${V1}/` });
    const keys = await keysUnder(`${MODEL_PREFIX}${V1}/`);
    expect(keys).toHaveLength(result.files);
    expect(keys).toContain(`${MODEL_PREFIX}${V1}/translator_a2b.onnx`);
    expect(keys).toContain(`${MODEL_PREFIX}${V1}/fixtures/index.json`);
    expect(await objectText(`${MODEL_PREFIX}${V1}/manifest.json`)).toBe(await readFile(join(SHAPES, 'manifest.json'), 'utf8'));
    // The sha256 travels as object metadata too, for people browsing the bucket.
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${MODEL_PREFIX}${V1}/translator_a2b.onnx` }));
    expect(head.Metadata?.['sha256']).toMatch(/^[0-9a-f]{64}$/);
    // Progress in bytes on stderr, ending with the verification of every file.
    expect(run.err.join('\n')).toMatch(/upload \d+\/\d+ files, [\d.]+ MB of [\d.]+ MB \(100%/);
    expect(run.err.join('\n')).toMatch(new RegExp(String.raw`published sa-munit-shapes ${V1_RE}: \d+ files verified`));
    expect(await pointer()).toBeUndefined();
    expect((await publishModel(['current', NAME, '--to', TO])).code).toBe(4);
  });

  it('--set-current points current.json at it; publishing the same folder again changes nothing', async () => {
    const first = await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet']);
    expect(first.code, first.err.join('\n')).toBe(0);
    expect(first.err).toEqual([]);
    const moved = await pointer();
    expect(moved).toMatchObject({ pointer_version: 1, name: NAME, version: V1, previous_version: null });

    const again = await publishModel([SHAPES, '--to', TO, '--set-current']);
    expect(again.code, again.err.join('\n')).toBe(0);
    expect(again.json()).toMatchObject({ uploaded: false, current: { moved: false, version: V1 } });
    expect(again.err.join('\n')).toMatch(/published already; comparing/);
    expect(await pointer()).toEqual(moved); // not even its timestamp changed
  });

  it('refuses other content under a published version (immutable), naming what differs, and changes nothing', async () => {
    expect((await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'])).code).toBe(0);
    const before = await objectText(`${MODEL_PREFIX}${V1}/evaluation/evaluation.md`);
    const changed = await exportWithVersion(V1, async (dir) => {
      await writeFile(join(dir, 'evaluation/evaluation.md'), 'rewritten after publishing\n');
      await writeFile(join(dir, 'NOTES.txt'), 'an extra file\n');
    });
    const run = await publishModel([changed, '--to', TO, '--set-current', '--quiet']);
    expect(run.code).toBe(4);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(
      new RegExp(String.raw`^publish-model: sa-munit-shapes ${V1_RE} is published already with other content \(NOTES\.txt is in the folder but not published; evaluation\/evaluation\.md: published \d+ bytes, folder 27\)\. Published versions are immutable: give the export a new version label\.$`),
    );
    expect(await objectText(`${MODEL_PREFIX}${V1}/evaluation/evaluation.md`)).toBe(before);
    expect(await objectText(`${MODEL_PREFIX}${V1}/NOTES.txt`)).toBeUndefined();
  });

  it('finishes a publish that was interrupted before its manifest, removing the leftovers', async () => {
    await s3.putObject(BUCKET, `${MODEL_PREFIX}${V1}/translator_a2b.onnx`, 'half an upload');
    await s3.putObject(BUCKET, `${MODEL_PREFIX}${V1}/stale.bin`, 'from an older attempt');
    const run = await publishModel([SHAPES, '--to', TO, '--quiet']);
    expect(run.code, run.err.join('\n')).toBe(0);
    expect(run.json()).toMatchObject({ uploaded: true });
    expect(await objectText(`${MODEL_PREFIX}${V1}/stale.bin`)).toBeUndefined();
    expect(await objectText(`${MODEL_PREFIX}${V1}/translator_a2b.onnx`)).not.toBe('half an upload');
  });

  it('follows symbolic links: a linked graph is uploaded with the bytes it points at, and --set-current points at a whole version', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'publish-graph-store-'));
    temps.push(elsewhere);
    const linked = await exportWithVersion('2026-11-28.1', async (dir) => {
      // The graph lives outside the folder (e.g. a shared store of large files); the folder links to it.
      await rename(join(dir, 'translator_b2a.onnx'), join(elsewhere, 'translator_b2a.onnx'));
      await symlink(join(elsewhere, 'translator_b2a.onnx'), join(dir, 'translator_b2a.onnx'));
    });
    const run = await publishModel([linked, '--to', TO, '--set-current', '--quiet']);
    expect(run.code, run.err.join('\n')).toBe(0);
    const prefix = `${MODEL_PREFIX}2026-11-28.1/`;
    const keys = await keysUnder(prefix);
    expect(keys).toHaveLength(run.json<{ files: number }>().files);
    expect(keys).toContain(`${prefix}translator_b2a.onnx`);
    expect(await objectSha256(`${prefix}translator_b2a.onnx`)).toBe(createHash('sha256').update(await readFile(join(SHAPES, 'translator_b2a.onnx'))).digest('hex'));
    expect(await pointer()).toMatchObject({ version: '2026-11-28.1', manifest_sha256: manifestDigest(await readFile(join(linked, 'manifest.json'))) });
  });

  it('a dangling symbolic link or a link loop in the folder: exit 2 naming it, nothing uploaded', async () => {
    s3.clearRequests();
    const dangling = await exportWithVersion('2026-11-28.1', async (dir) => {
      await symlink(join(dir, 'no-such-file'), join(dir, 'NOTES.txt'));
    });
    const first = await publishModel([dangling, '--to', TO]);
    expect(first.code).toBe(2);
    expect(first.err).toEqual(['publish-model: invalid export folder: NOTES.txt is a symbolic link to nothing']);

    const loop = await exportWithVersion('2026-11-28.1', async (dir) => {
      await symlink('..', join(dir, 'fixtures', 'loop'));
    });
    const second = await publishModel([loop, '--to', TO]);
    expect(second.code).toBe(2);
    expect(second.err).toEqual(['publish-model: invalid export folder: fixtures/loop links back to a folder that contains it (a loop)']);
    expect(s3.requests).toEqual([]);
  });

  it('a graph the manifest lists that is not among the files to upload: refused before any request (exit 2), nothing published', async () => {
    // From the command: a folder without one of its graphs is refused by the contract's loader.
    s3.clearRequests();
    const withoutGraph = await exportWithVersion('2026-11-28.1', async (dir) => {
      await rm(join(dir, 'translator_b2a.onnx'));
    });
    const run = await publishModel([withoutGraph, '--to', TO, '--set-current']);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toMatch(/invalid export folder: .*translator_b2a\.onnx.*cannot read: no such file/);
    expect(s3.requests).toEqual([]);

    // publishVersion itself checks the list it is handed, whoever built it (the local stack calls it too).
    const folder = await readExportFolder(SHAPES);
    const partial = { ...folder, files: folder.files.filter((file) => file.name !== 'translator_b2a.onnx') };
    const root = parseModelSource(TO);
    if (root.kind !== 's3') throw new Error('an s3:// root');
    const catalog = new ModelCatalog(root, s3.overrides);
    try {
      const error = await publishVersion(partial, catalog, () => {}).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(PublishError);
      expect(EXIT_CODES[(error as PublishError).kind]).toBe(2);
      expect((error as PublishError).message).toBe(
        `invalid export folder: translator_b2a.onnx is listed in ${join(SHAPES, 'manifest.json')} but not among the files to upload; nothing was published`,
      );
    } finally {
      catalog.close();
    }
    expect(s3.requests).toEqual([]);
    expect(await keysUnder(MODEL_PREFIX)).toEqual([]);
  });
});

describe('pointer moves', () => {
  it('forward to a new version, back with rollback, forward again with set-current; list marks the current one', async () => {
    const v2 = await exportWithVersion('2026-11-28.1');
    expect((await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'])).code).toBe(0);
    const forward = await publishModel([v2, '--to', TO, '--set-current', '--quiet']);
    expect(forward.code, forward.err.join('\n')).toBe(0);
    expect(forward.json()).toMatchObject({ version: '2026-11-28.1', current: { moved: true, previous: V1 } });
    expect(await pointer()).toMatchObject({ version: '2026-11-28.1', previous_version: V1 });

    const list = await publishModel(['list', NAME, '--to', TO]);
    expect(list.out).toEqual([`  ${V1.padEnd(24)} ${V1_CREATED_AT}`, `* ${'2026-11-28.1'.padEnd(24)} ${V1_CREATED_AT}`]);
    const listJson = await publishModel(['list', NAME, '--to', TO, '--json']);
    expect(listJson.json<unknown[]>()).toEqual([
      { version: V1, created_at: V1_CREATED_AT, current: false },
      { version: '2026-11-28.1', created_at: V1_CREATED_AT, current: true },
    ]);

    // rollback without a version: back to the previous one; the graphs are read back first.
    const back = await publishModel(['rollback', NAME, '--to', TO]);
    expect(back.code, back.err.join('\n')).toBe(0);
    expect(back.json()).toEqual({ name: NAME, version: V1, previous: '2026-11-28.1', moved: true });
    expect(back.err.join('\n')).toMatch(/verify 4\/4 files/);
    expect(await pointer()).toMatchObject({ version: V1, previous_version: '2026-11-28.1' });

    const current = await publishModel(['current', NAME, '--to', TO]);
    expect(current.json()).toMatchObject({ name: NAME, version: V1 });

    // A rollback is a move: it records the version it left, so a second rollback goes forward again.
    const again = await publishModel(['rollback', NAME, '--to', TO, '--quiet']);
    expect(again.json()).toEqual({ name: NAME, version: '2026-11-28.1', previous: V1, moved: true });
    expect(await pointer()).toMatchObject({ version: '2026-11-28.1', previous_version: V1 });

    expect((await publishModel(['set-current', NAME, V1, '--to', TO, '--quiet'])).json()).toMatchObject({ version: V1, moved: true });
    expect((await publishModel(['rollback', NAME, '2026-11-28.1', '--to', TO, '--quiet'])).json()).toMatchObject({ version: '2026-11-28.1', moved: true });
  });

  it('refuses to point at a version that is not published, or whose graphs no longer match, and leaves the pointer', async () => {
    expect((await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'])).code).toBe(0);
    const v2 = await exportWithVersion('2026-11-28.1');
    expect((await publishModel([v2, '--to', TO, '--quiet'])).code).toBe(0);
    const before = await objectText(`${MODEL_PREFIX}current.json`);

    const missing = await publishModel(['set-current', NAME, '9.9.9', '--to', TO]);
    expect(missing.code).toBe(4);
    expect(missing.err.join('\n')).toMatch(/sa-munit-shapes 9\.9\.9 is not published \(s3:\/\/models\/published\/sa-munit-shapes\/9\.9\.9\/manifest\.json does not exist\)/);

    await s3.putObject(BUCKET, `${MODEL_PREFIX}2026-11-28.1/translator_b2a.onnx`, 'overwritten behind our back');
    const broken = await publishModel(['set-current', NAME, '2026-11-28.1', '--to', TO]);
    expect(broken.code).toBe(4);
    expect(broken.err.join('\n')).toMatch(/2026-11-28\.1 is broken: s3:\/\/models\/published\/sa-munit-shapes\/2026-11-28\.1\/translator_b2a\.onnx has 27 bytes/);

    const nothingBefore = await publishModel(['rollback', NAME, '--to', TO]);
    expect(nothingBefore.code).toBe(4);
    expect(nothingBefore.err.join('\n')).toMatch(/records no previous version/);
    expect(await objectText(`${MODEL_PREFIX}current.json`)).toBe(before);
  });
});

describe('bad input and failures', () => {
  it('--help and no arguments print the usage; bad arguments exit 2 naming them', async () => {
    for (const args of [[], ['--help']]) {
      const run = await publishModel(args);
      expect(run.code).toBe(0);
      expect(run.out.join('\n')).toMatch(/^usage: npm run publish-model/);
    }
    const cases: [string[], RegExp][] = [
      [[SHAPES], /--to s3:\/\/bucket\/prefix is required/],
      [[SHAPES, '--to', '/tmp/folder'], /--to must be an s3:\/\/ URL/],
      [[SHAPES, '--to', 's3://'], /--to: invalid model source "s3:\/\/": no bucket name/],
      [['rollback', '--to', TO], /rollback takes <name> \[<version>\], got nothing/],
      [['list', NAME, '--to', TO, '--set-current'], /--set-current goes with publish/],
      [[SHAPES, '--to', TO, '--bogus'], /Unknown option '--bogus'/],
      [['set-current', NAME, '../escape', '--to', TO], /"\.\.\/escape" is not a version label/],
    ];
    for (const [args, message] of cases) {
      const run = await publishModel(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err.join('\n')).toMatch(message);
    }
    const noRegion = await publishModel([SHAPES, '--to', TO], { AWS_ENDPOINT_URL_S3: s3.endpoint });
    expect(noRegion.code).toBe(2);
    expect(noRegion.err.join('\n')).toMatch(/no region: pass --region or set AWS_REGION \(Cloudflare R2: auto\)/);
  });

  it('a missing folder, a folder without a manifest and a graph that does not match its checksum: exit 2, nothing uploaded', async () => {
    s3.clearRequests();
    const missing = await publishModel(['/nonexistent/export', '--to', TO]);
    expect(missing.code).toBe(2);
    expect(missing.err).toEqual(['publish-model: export folder /nonexistent/export does not exist']);

    const empty = await mkdtemp(join(tmpdir(), 'publish-empty-'));
    temps.push(empty);
    const noManifest = await publishModel([empty, '--to', TO]);
    expect(noManifest.code).toBe(2);
    expect(noManifest.err.join('\n')).toMatch(/invalid export folder: .*manifest\.json.*cannot read: no such file/);

    const damaged = await exportWithVersion('2026-11-28.1', async (dir) => {
      const bytes = await readFile(join(dir, 'translator_a2b.onnx'));
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
      await writeFile(join(dir, 'translator_a2b.onnx'), bytes);
    });
    const mismatch = await publishModel([damaged, '--to', TO]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.err.join('\n')).toMatch(/translator_a2b\.onnx.*sha256: manifest says [0-9a-f]{64}, file hashes to [0-9a-f]{64}/);
    expect(s3.requests).toEqual([]); // checked before connecting
  });

  it('an unreachable store: exit 3 naming the endpoint problem', async () => {
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const run = await publishModel([SHAPES, '--to', TO], { ...s3.env, AWS_ENDPOINT_URL_S3: closed });
    expect(run.code).toBe(3);
    expect(run.err.join('\n')).toMatch(new RegExp(String.raw`list s3:\/\/models\/published\/sa-munit-shapes\/${V1_RE}\/: .*ECONNREFUSED.*\(is the endpoint right and the store up\?\)`));
  });

  it('runs as a process through its entry point (the npm script), with the documented exit code', async () => {
    // Exactly what `npm run publish-model` runs (package.json), with node_modules/.bin as npm puts it on PATH.
    const scripts = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['publish-model']).toBe('tsx infra/publish/cli.ts');
    const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['infra/publish/cli.ts', 'list', NAME, '--to', TO], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...s3.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/no versions of sa-munit-shapes under s3:\/\/models\/published\/sa-munit-shapes\//);
  });
});

describe('against a store with conditional writes (proxy in front of s3rver)', () => {
  let proxy: ConditionalProxy;
  beforeEach(async () => {
    proxy = await startConditionalProxy(s3);
  });
  afterEach(async () => {
    await proxy.close();
  });
  const viaProxy = () => ({ ...s3.env, AWS_ENDPOINT_URL_S3: proxy.endpoint });

  it('a pointer moved by someone else between read and write: refused (exit 4), their move stands', async () => {
    expect((await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'], viaProxy())).code).toBe(0);
    const v2 = await exportWithVersion('2026-11-28.1');
    const theirs = JSON.stringify({ ...(await pointer()), updated_at: new Date().toISOString() });
    proxy.beforePut = async (key) => {
      if (key === `${MODEL_PREFIX}current.json`) await s3.putObject(BUCKET, key, theirs);
    };
    const run = await publishModel([v2, '--to', TO, '--set-current', '--quiet'], viaProxy());
    expect(run.code).toBe(4);
    expect(run.err.join('\n')).toMatch(/current\.json was changed by someone else after it was read; nothing was moved/);
    expect(await objectText(`${MODEL_PREFIX}current.json`)).toBe(theirs);
    expect(proxy.conditionalPuts).toContainEqual({ key: `${MODEL_PREFIX}current.json`, header: 'if-match', status: 412 });
  });

  it('creates the first pointer and each manifest only if absent (If-None-Match: *)', async () => {
    expect((await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'], viaProxy())).code).toBe(0);
    expect(proxy.conditionalPuts).toEqual([
      { key: `${MODEL_PREFIX}${V1}/manifest.json`, header: 'if-none-match', status: 200 },
      { key: `${MODEL_PREFIX}current.json`, header: 'if-none-match', status: 200 },
    ]);
  });

  it('someone else uploads a graph of the same version label meanwhile: --set-current reads the version back and refuses (exit 4), no pointer', async () => {
    // Publisher B overwrites a graph of A's version just before A's manifest goes up: the store
    // ends with A's manifest and B's graph. A's own read-back of its uploads has passed already.
    proxy.beforePut = async (key) => {
      if (key === `${MODEL_PREFIX}${V1}/manifest.json`) await s3.putObject(BUCKET, `${MODEL_PREFIX}${V1}/translator_b2a.onnx`, 'publisher B\'s graph');
    };
    const run = await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'], viaProxy());
    expect(run.code, run.err.join('\n')).toBe(4);
    expect(run.err.join('\n')).toMatch(
      new RegExp(String.raw`sa-munit-shapes ${V1_RE} is broken: s3:\/\/models\/published\/sa-munit-shapes\/${V1_RE}\/translator_b2a\.onnx has 19 bytes hashing to [0-9a-f]{64}, its manifest says \d+ bytes`),
    );
    expect(await pointer()).toBeUndefined();
  });

  it('someone else publishes the same version label whole meanwhile: --set-current refuses to point at their content (exit 4)', async () => {
    // Publisher B's export: the same label, other content (a valid, whole version of its own).
    const theirs = await exportWithVersion(V1, async (dir) => {
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { created_at: string };
      manifest.created_at = '2026-11-28T09:00:00Z';
      await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    });
    const manifestKey = `${MODEL_PREFIX}${V1}/manifest.json`;
    let manifestReads = 0;
    // The first read of the manifest is A's read-back after its upload; B's version lands after it,
    // before the pointer move reads the version again.
    proxy.beforeGet = async (key) => {
      if (key === manifestKey && ++manifestReads === 2) await s3.uploadDir(BUCKET, `${MODEL_PREFIX}${V1}/`, theirs);
    };
    const run = await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'], viaProxy());
    expect(manifestReads).toBe(2);
    expect(run.code, run.err.join('\n')).toBe(4);
    expect(run.err.join('\n')).toMatch(
      new RegExp(String.raw`manifest\.json hashes to [0-9a-f]{64}, not to the [0-9a-f]{64} just published: someone else published sa-munit-shapes ${V1_RE} with other content at the same time; nothing was moved`),
    );
    expect(await pointer()).toBeUndefined();
    // Their version is whole: pointing at it on purpose works, and records their manifest's digest.
    const set = await publishModel(['set-current', NAME, V1, '--to', TO, '--quiet'], viaProxy());
    expect(set.code, set.err.join('\n')).toBe(0);
    expect(await pointer()).toMatchObject({ version: V1, manifest_sha256: manifestDigest(await readFile(join(theirs, 'manifest.json'))) });
  });

  it('a store that returns other bytes than were uploaded: exit 3, no manifest, no pointer', async () => {
    proxy.damageGet = (key) => key.endsWith('/translator_b2a.onnx');
    const run = await publishModel([SHAPES, '--to', TO, '--set-current', '--quiet'], viaProxy());
    expect(run.code).toBe(3);
    expect(run.err.join('\n')).toMatch(new RegExp(String.raw`checksum mismatch after upload: s3:\/\/models\/published\/sa-munit-shapes\/${V1_RE}\/translator_b2a\.onnx hashes to [0-9a-f]{64}, the file to [0-9a-f]{64}; the version is not published`));
    expect(await objectText(`${MODEL_PREFIX}${V1}/manifest.json`)).toBeUndefined();
    expect(await pointer()).toBeUndefined();
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface ConditionalProxy {
  readonly endpoint: string;
  /** Conditional PUTs seen, with the answer given. */
  readonly conditionalPuts: { key: string; header: string; status: number }[];
  /** Runs before a PUT's condition is evaluated: lets a test move an object "at the same time". */
  beforePut: ((key: string) => Promise<void>) | undefined;
  /** GETs of keys it accepts get their first body byte flipped. */
  damageGet: ((key: string) => boolean) | undefined;
  /** Runs before a GET is forwarded: lets a test change the store "at the same time". */
  beforeGet: ((key: string) => Promise<void>) | undefined;
  close(): Promise<void>;
}

/**
 * Forwards everything to s3rver unchanged (the SigV4 signature covers the Host header, which is
 * passed as sent), except that a PUT with If-Match or If-None-Match is answered 412
 * PreconditionFailed when the condition does not hold, as AWS S3 and R2 do.
 */
async function startConditionalProxy(target: S3TestServer): Promise<ConditionalProxy> {
  const upstream = new URL(target.endpoint);
  const state: ConditionalProxy = {
    endpoint: '',
    conditionalPuts: [],
    beforePut: undefined,
    damageGet: undefined,
    beforeGet: undefined,
    close: async () => {},
  };
  const keyOf = (url: string) => decodeURIComponent(new URL(url, 'http://x').pathname.split('/').slice(2).join('/'));
  const currentEtag = async (key: string): Promise<string | undefined> => {
    try {
      return (await target.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ETag;
    } catch (error) {
      if (error instanceof NotFound || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw error;
    }
  };
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer | undefined, damage: boolean) => {
    const upstreamRequest = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamResponse) => {
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        let first = damage;
        upstreamResponse.on('data', (chunk: Buffer) => {
          if (first && chunk.length > 0) {
            chunk[0] = (chunk[0] ?? 0) ^ 0xff;
            first = false;
          }
          res.write(chunk);
        });
        upstreamResponse.on('end', () => res.end());
      },
    );
    upstreamRequest.on('error', () => res.destroy());
    if (body === undefined) req.pipe(upstreamRequest);
    else upstreamRequest.end(body);
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const key = keyOf(req.url ?? '/');
      const ifMatch = req.headers['if-match'];
      const ifNoneMatch = req.headers['if-none-match'];
      if (req.method === 'PUT' && (ifMatch !== undefined || ifNoneMatch !== undefined)) {
        const chunks: Buffer[] = [];
        for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
        await state.beforePut?.(key);
        const etag = await currentEtag(key);
        const holds = ifMatch !== undefined ? etag !== undefined && (ifMatch === '*' || ifMatch === etag) : etag === undefined || (ifNoneMatch !== '*' && ifNoneMatch !== etag);
        state.conditionalPuts.push({ key, header: ifMatch !== undefined ? 'if-match' : 'if-none-match', status: holds ? 200 : 412 });
        if (!holds) {
          res.writeHead(412, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
          return;
        }
        forward(req, res, Buffer.concat(chunks), false);
        return;
      }
      if (req.method === 'GET') await state.beforeGet?.(key);
      forward(req, res, undefined, req.method === 'GET' && state.damageGet?.(key) === true);
    })().catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return Object.assign(state, {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  });
}
