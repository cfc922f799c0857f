/**
 * `npm run publish-model -- …`: publish model versions to an S3-protocol store and move the
 * pointer the functions follow (docs/deploy.md). Usage and exit codes: `--help`, publish-args.ts.
 *
 *   npm run publish-model -- models/sa-munit-shapes --to s3://sa-munit-models/models --set-current
 *   npm run publish-model -- rollback sa-munit-shapes --to s3://sa-munit-models/models
 */
import { runPublishCommand } from './publish-command.ts';

const code = await runPublishCommand(process.argv.slice(2), process.env, {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
});
// Exit explicitly: a keep-alive socket of the SDK must not hold the process open.
process.exit(code);
