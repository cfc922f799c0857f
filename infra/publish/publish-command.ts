/**
 * The publishing command as a function of its arguments, environment and output streams (cli.ts
 * is the process around it; the tests call this directly). Usage and exit codes: publish-args.ts.
 */
import { readExportFolder } from './export-folder.ts';
import { ModelCatalog } from './model-catalog.ts';
import { readCurrent, rollback, setCurrent, type PointerMove } from './pointer-moves.ts';
import { USAGE, parsePublishArgs, type PublishInvocation } from './publish-args.ts';
import { EXIT_CODES, PublishError } from './publish-error.ts';
import { publishVersion } from './publish-version.ts';
import { MANIFEST_FILE } from '../../contract/manifest-dir.ts';

export interface CommandIo {
  /** Results (JSON or the version list), one line per call. */
  readonly out: (line: string) => void;
  /** Progress and errors, one line per call. */
  readonly err: (line: string) => void;
}

async function run(invocation: PublishInvocation, out: (line: string) => void, say: (line: string) => void): Promise<void> {
  const { command } = invocation;
  // Reading the folder needs no store: a bad folder is reported before any connection.
  const folder = command.kind === 'publish' ? await readExportFolder(command.dir) : undefined;
  const catalog = new ModelCatalog(invocation.root, invocation.s3);
  try {
    switch (command.kind) {
      case 'publish': {
        if (folder === undefined) throw new Error('unreachable');
        const published = await publishVersion(folder, catalog, say);
        // The version is read back whole again before the pointer moves (someone else may have
        // published the same label meanwhile), and its manifest must be the one just published.
        const move = command.setCurrent
          ? await setCurrent(catalog, published.name, published.version, say, { expectManifestSha256: published.manifestSha256 })
          : undefined;
        out(JSON.stringify({ ...published, current: move === undefined ? undefined : describeMove(move) }));
        return;
      }
      case 'set-current':
        out(JSON.stringify(describeMove(await setCurrent(catalog, command.name, command.version, say))));
        return;
      case 'rollback':
        out(JSON.stringify(describeMove(await rollback(catalog, command.name, command.version, say))));
        return;
      case 'current': {
        const current = await readCurrent(catalog, command.name);
        if (current === undefined) throw new PublishError('refused', `${command.name} has no ${catalog.label(catalog.pointerKey(command.name))}`);
        out(JSON.stringify(current.pointer, null, 2));
        return;
      }
      case 'list': {
        const versions = await listVersions(catalog, command.name);
        if (command.json) out(JSON.stringify(versions, null, 2));
        else if (versions.length === 0) say(`no versions of ${command.name} under ${catalog.label(catalog.modelPrefix(command.name))}`);
        else for (const v of versions) out(`${v.current ? '*' : ' '} ${v.version.padEnd(24)} ${v.created_at ?? '(incomplete: no manifest.json)'}`);
        return;
      }
    }
  } finally {
    catalog.close();
  }
}

interface ListedVersion {
  readonly version: string;
  /** From its manifest; null when the version has no manifest.json (an interrupted publish). */
  readonly created_at: string | null;
  readonly current: boolean;
}

async function listVersions(catalog: ModelCatalog, name: string): Promise<ListedVersion[]> {
  const current = await readCurrent(catalog, name).catch((error: unknown) => {
    if (error instanceof PublishError && error.kind === 'refused') return undefined; // unreadable pointer: list anyway
    throw error;
  });
  const listed: ListedVersion[] = [];
  for (const version of await catalog.listVersions(name)) {
    const manifest = await catalog.readText(`${catalog.versionPrefix(name, version)}${MANIFEST_FILE}`);
    let created: string | null = null;
    if (manifest !== undefined) {
      try {
        created = String((JSON.parse(manifest.text) as { created_at?: unknown }).created_at ?? '');
      } catch {
        created = '(manifest.json is not JSON)';
      }
    }
    listed.push({ version, created_at: created, current: current?.pointer.version === version });
  }
  return listed;
}

function describeMove(move: PointerMove) {
  return { name: move.name, version: move.version, previous: move.previous, moved: move.moved };
}

/** Runs one command; resolves with the exit code (publish-error.ts), never rejects. */
export async function runPublishCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo): Promise<number> {
  try {
    const invocation = parsePublishArgs(argv, env);
    if (invocation === 'help') {
      io.out(USAGE);
      return EXIT_CODES.ok;
    }
    await run(invocation, io.out, invocation.quiet ? () => {} : io.err);
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof PublishError) {
      io.err(`publish-model: ${error.message}`);
      return EXIT_CODES[error.kind];
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    io.err(`publish-model: internal error: ${message}`);
    return EXIT_CODES.bug;
  }
}
