#!/usr/bin/env node
/**
 * The `kiln` command.
 *
 *   kiln up [--no-sample]          start Temporal, workers and API; run the sample build
 *   kiln run [PATH] [--ref REF]    build a local repository and follow it live
 *   kiln status BUILD              print a build's job table
 *   kiln logs BUILD JOB [--attempt N]
 *   kiln cancel BUILD
 *   kiln projects
 *   kiln history PROJECT [--branch B] [--status S] [--limit N]
 *   kiln retention run
 *   kiln artifacts BUILD | kiln artifacts download BUILD [PATH…] [--job JOB] [--dir DIR]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../workers/load-config.ts';
import { ConfigError } from '../shared/config.ts';
import { ApiError, KilnApiClient } from './api-client.ts';
import { followBuild } from './follow.ts';
import { duration, renderBuild, renderTable } from './render.ts';

const USAGE = `usage:
  kiln up [--no-sample]             start the whole system locally and run the sample build
  kiln run [PATH] [--ref REF]       build the repository at PATH (default .) and follow it
  kiln status BUILD                 show a build's jobs
  kiln logs BUILD JOB [--attempt N] print a job's log
  kiln cancel BUILD                 cancel a running build
  kiln projects                     list registered projects
  kiln history PROJECT [--branch B] [--status S] [--limit N]
                                    a project's builds, newest first (PROJECT: id or owner/name)
  kiln artifacts BUILD              list the files a build's jobs kept
  kiln artifacts download BUILD [PATH...] [--job JOB] [--dir DIR]
                                    download them (all by default) into DIR (default .)
  kiln retention run                delete old logs, expired artifacts and unreferenced blobs now
                                    (through Temporal at KILN_TEMPORAL_ADDRESS; workers must run)

The API is found at http://KILN_API_HOST:KILN_API_PORT (or --api URL) with KILN_API_TOKEN.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ref: { type: 'string' },
      attempt: { type: 'string' },
      api: { type: 'string' },
      branch: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      job: { type: 'string' },
      dir: { type: 'string' },
      'no-sample': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = loadConfigOrExit();
  const api = new KilnApiClient(
    values.api ?? `http://${config.KILN_API_HOST}:${config.KILN_API_PORT}`,
    config.KILN_API_TOKEN,
  );

  switch (command) {
    case 'up': {
      const { up } = await import('./up.ts');
      await up(config, { sample: !values['no-sample'] });
      return 0;
    }
    case 'run': {
      const path = resolve(args[0] ?? '.');
      const { buildId } = await api.startBuild({ cloneUrl: path, ref: values.ref ?? 'HEAD' });
      const final = await followBuild(api, buildId);
      return final.status === 'succeeded' ? 0 : 1;
    }
    case 'status':
      console.log(renderBuild(await api.getBuild(required(args[0], 'BUILD'))));
      return 0;
    case 'logs':
      process.stdout.write(
        await api.logs(
          required(args[0], 'BUILD'),
          required(args[1], 'JOB'),
          values.attempt ? Number(values.attempt) : undefined,
        ),
      );
      return 0;
    case 'cancel':
      console.log(renderBuild(await api.cancelBuild(required(args[0], 'BUILD'))));
      return 0;
    case 'projects': {
      const { projects } = await api.listProjects();
      console.log(
        renderTable([
          ['ID', 'REPO', 'CLONE URL', 'PIPELINE'],
          ...projects.map((p) => [p.id, p.repo, p.cloneUrl, p.pipelinePath]),
        ]),
      );
      return 0;
    }
    case 'history': {
      const wanted = required(args[0], 'PROJECT');
      const { projects } = await api.listProjects();
      const project = projects.find((p) => p.id === wanted || p.repo.toLowerCase() === wanted.toLowerCase());
      if (!project) throw new UsageError(`no project "${wanted}" (see: kiln projects)`);
      const { builds } = await api.listBuilds(project.id, {
        branch: values.branch,
        status: values.status,
        limit: values.limit ? Number(values.limit) : 20,
      });
      const rows = builds.map((b) => [
        `#${b.number}`,
        b.status,
        b.branch ?? b.tag ?? b.ref,
        (b.commitSha ?? '').slice(0, 10),
        b.event,
        b.createdAt.replace('T', ' ').slice(0, 19),
        duration(b.startedAt, b.finishedAt),
        b.id,
      ]);
      console.log(
        renderTable([['#', 'STATUS', 'REF', 'COMMIT', 'EVENT', 'CREATED', 'TIME', 'BUILD'], ...rows]),
      );
      return 0;
    }
    case 'artifacts': {
      const { downloadArtifacts, renderArtifacts } = await import('./artifacts.ts');
      if (args[0] === 'download') {
        const buildId = required(args[1], 'BUILD');
        const options = { paths: args.slice(2), dir: values.dir ?? '.', job: values.job };
        for (const path of await downloadArtifacts(api, buildId, options)) console.log(path);
        return 0;
      }
      console.log(renderArtifacts((await api.listArtifacts(required(args[0], 'BUILD'))).artifacts));
      return 0;
    }
    case 'retention': {
      if (args[0] !== 'run') throw new UsageError(`expected "kiln retention run"\n\n${USAGE}`);
      const { renderRetentionResult, runRetentionNow } = await import('./retention.ts');
      console.log(renderRetentionResult(await runRetentionNow(config)));
      return 0;
    }
    default:
      console.error(`kiln: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`missing ${name}\n\n${USAGE}`);
  return value;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) {
      console.error(`kiln: bad configuration: ${err.message}`);
      process.exit(2);
    }
    if (err instanceof ApiError || err instanceof UsageError) {
      console.error(`kiln: ${err.message}`);
      process.exit(err instanceof UsageError ? 2 : 1);
    }
    console.error(err);
    process.exit(1);
  },
);
