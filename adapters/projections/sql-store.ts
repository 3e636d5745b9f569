import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { InvalidInputError, KilnError, NotFoundError } from '../../shared/errors.ts';
import { migrateToLatest } from './migrator.ts';
import {
  MAX_PAGE_SIZE,
  ProjectExistsError,
  StoreUnavailableError,
  type BuildPage,
  type BuildProjection,
  type BuildQuery,
  type BuildRecord,
  type DeliveryRecord,
  type JobProjection,
  type JobRecord,
  type NewProject,
  type ProjectionStore,
  type ProjectRecord,
  type RecordDeliveryResult,
  type UpsertBuildResult,
} from './port.ts';
import {
  decodeCursor,
  encodeCursor,
  toBuild,
  toDelivery,
  toJob,
  toProject,
  type BuildRow,
  type DeliveryRow,
  type JobRow,
  type ProjectRow,
} from './rows.ts';

/** How an adapter plugs its database into the shared SQL. */
export interface SqlStoreOptions {
  db: Kysely<unknown>;
  /** Names the database in error messages, e.g. `PostgreSQL at 127.0.0.1:5432/kiln`. */
  name: string;
  /** Recognises a driver error that means the database cannot be reached. */
  isUnavailable(err: unknown): boolean;
}

const PROJECT_COLUMNS = sql.raw('id, repo, clone_url, secret_ref, pipeline_path, tenant, weight, created_at');
const BUILD_COLUMNS = sql.raw(
  'id, project_id, number, commit_sha, ref, branch, tag, event, actor, status, version, ' +
    'created_at, started_at, finished_at, workflow_id, problems, message',
);
const JOB_COLUMNS = sql.raw(
  'build_id, key, name, needs, status, attempt, runner_id, exit_code, failure_code, failed_step, ' +
    'message, started_at, finished_at, log_location, version',
);

/**
 * The projection store over any PostgreSQL-speaking Kysely database: the PostgreSQL and PGlite
 * adapters differ only in how they connect and which errors mean "unreachable".
 */
export class SqlProjectionStore implements ProjectionStore {
  readonly #db: Kysely<unknown>;
  readonly #name: string;
  readonly #isUnavailable: (err: unknown) => boolean;
  #closed = false;

  constructor(options: SqlStoreOptions) {
    this.#db = options.db;
    this.#name = options.name;
    this.#isUnavailable = options.isUnavailable;
  }

  async migrate(): Promise<string[]> {
    return this.#run('migrate', () => migrateToLatest(this.#db));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.destroy();
  }

  async createProject(project: NewProject): Promise<string> {
    const weight = project.weight ?? 1;
    if (!Number.isSafeInteger(weight) || weight < 1) {
      throw new InvalidInputError('weight', 'weight must be a positive integer');
    }
    const id = randomUUID();
    try {
      await this.#run('createProject', () =>
        sql`INSERT INTO projects (id, repo, clone_url, secret_ref, pipeline_path, tenant, weight)
            VALUES (${id}, ${project.repo}, ${project.cloneUrl}, ${project.webhookSecretRef},
                    ${project.pipelinePath ?? '.ci.yaml'}, ${project.tenant ?? 'default'}, ${weight})`.execute(
          this.#db,
        ),
      );
    } catch (err) {
      if (sqlState(err) === '23505') throw new ProjectExistsError(project.repo);
      throw err;
    }
    return id;
  }

  async listProjects(): Promise<ProjectRecord[]> {
    return this.#run('listProjects', async () => {
      const { rows } =
        await sql<ProjectRow>`SELECT ${PROJECT_COLUMNS} FROM projects ORDER BY lower(repo)`.execute(this.#db);
      return rows.map(toProject);
    });
  }

  async getProject(id: string): Promise<ProjectRecord | undefined> {
    return this.#run('getProject', async () => {
      const { rows } =
        await sql<ProjectRow>`SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = ${id}`.execute(this.#db);
      return rows[0] && toProject(rows[0]);
    });
  }

  async findProjectByRepo(repo: string): Promise<ProjectRecord | undefined> {
    return this.#run('findProjectByRepo', async () => {
      const { rows } = await sql<ProjectRow>`
        SELECT ${PROJECT_COLUMNS} FROM projects WHERE lower(repo) = lower(${repo})`.execute(this.#db);
      return rows[0] && toProject(rows[0]);
    });
  }

  async upsertBuild(build: BuildProjection): Promise<UpsertBuildResult> {
    assertVersion(build.version);
    return this.#run('upsertBuild', async () => {
      for (let round = 0; round < 20; round++) {
        let number: number | undefined;
        try {
          number = await upsertBuildRow(this.#db, build);
        } catch (err) {
          if (sqlState(err) === '23503') {
            throw new NotFoundError(
              'project',
              `project ${build.projectId} does not exist (build ${build.id})`,
            );
          }
          // Another build of the project committed the same number first: take the next one.
          if (sqlState(err) === '23505') continue;
          throw err;
        }
        if (number !== undefined) return { applied: true, number };
        const stored = await storedBuild(this.#db, build.id);
        if (stored !== undefined) return { applied: false, number: stored.number };
      }
      throw new Error(`build ${build.id}: kept losing the race for a build number`);
    });
  }

  async getBuild(id: string): Promise<BuildRecord | undefined> {
    return this.#run('getBuild', async () => {
      const { rows } = await sql<BuildRow>`SELECT ${BUILD_COLUMNS} FROM builds WHERE id = ${id}`.execute(
        this.#db,
      );
      return rows[0] && toBuild(rows[0]);
    });
  }

  async listBuilds(projectId: string, query: BuildQuery): Promise<BuildPage> {
    const { limit } = query;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw new InvalidInputError('limit', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    }
    const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const where: RawBuilder<unknown>[] = [sql`project_id = ${projectId}`];
    if (query.branch !== undefined) where.push(sql`branch = ${query.branch}`);
    if (query.status !== undefined) where.push(sql`status = ${query.status}`);
    if (query.event !== undefined) where.push(sql`event = ${query.event}`);
    if (before !== undefined) where.push(sql`number < ${before}`);
    return this.#run('listBuilds', async () => {
      const { rows } = await sql<BuildRow>`
        SELECT ${BUILD_COLUMNS} FROM builds WHERE ${sql.join(where, sql` AND `)}
        ORDER BY number DESC LIMIT ${limit + 1}`.execute(this.#db);
      const builds = rows.slice(0, limit).map(toBuild);
      const last = builds.at(-1);
      return rows.length > limit && last ? { builds, nextCursor: encodeCursor(last.number) } : { builds };
    });
  }

  async upsertJobs(buildId: string, version: number, jobs: JobProjection[]): Promise<number> {
    assertVersion(version);
    if (new Set(jobs.map((j) => j.key)).size !== jobs.length) {
      throw new InvalidInputError('jobs', 'job keys must be unique within one write');
    }
    if (jobs.length === 0) return 0;
    const records = jobs.map((job, ordinal) => ({
      key: job.key,
      ordinal,
      name: job.name,
      needs: job.needs,
      status: job.status,
      attempt: job.attempt,
      runner_id: job.runnerId ?? null,
      exit_code: job.exitCode ?? null,
      failure_code: job.failureCode ?? null,
      failed_step: job.failedStep ?? null,
      message: job.message ?? null,
      started_at: job.startedAt ?? null,
      finished_at: job.finishedAt ?? null,
      log_location: job.logLocation ?? null,
    }));
    try {
      return await this.#run('upsertJobs', async () => {
        const { rows } = await sql<{ key: string }>`
          INSERT INTO jobs (build_id, key, ordinal, name, needs, status, attempt, runner_id, exit_code,
                            failure_code, failed_step, message, started_at, finished_at, log_location, version)
          SELECT ${buildId}, j.key, j.ordinal, j.name, j.needs, j.status, j.attempt, j.runner_id, j.exit_code,
                 j.failure_code, j.failed_step, j.message, j.started_at, j.finished_at, j.log_location, ${version}
          FROM jsonb_to_recordset(cast(${JSON.stringify(records)} AS text)::jsonb) AS j(
            key text, ordinal integer, name text, needs jsonb, status text, attempt integer, runner_id text,
            exit_code integer, failure_code text, failed_step text, message text, started_at timestamptz,
            finished_at timestamptz, log_location text)
          ON CONFLICT (build_id, key) DO UPDATE SET
            name = excluded.name, needs = excluded.needs, status = excluded.status, attempt = excluded.attempt,
            runner_id = excluded.runner_id, exit_code = excluded.exit_code, failure_code = excluded.failure_code,
            failed_step = excluded.failed_step, message = excluded.message, started_at = excluded.started_at,
            finished_at = excluded.finished_at, log_location = excluded.log_location, version = excluded.version
          WHERE jobs.version < excluded.version
          RETURNING key`.execute(this.#db);
        return rows.length;
      });
    } catch (err) {
      if (sqlState(err) === '23503') {
        throw new NotFoundError(
          'build',
          `build ${buildId} has no projection yet: upsert the build before its jobs`,
        );
      }
      throw err;
    }
  }

  async listJobs(buildId: string): Promise<JobRecord[]> {
    return this.#run('listJobs', async () => {
      const { rows } = await sql<JobRow>`
        SELECT ${JOB_COLUMNS} FROM jobs WHERE build_id = ${buildId} ORDER BY ordinal, key`.execute(this.#db);
      return rows.map(toJob);
    });
  }

  async recordDelivery(delivery: {
    deliveryId: string;
    event: string;
    buildId: string;
  }): Promise<RecordDeliveryResult> {
    return this.#run('recordDelivery', async () => {
      const inserted = await sql`
        INSERT INTO webhook_deliveries (delivery_id, event, build_id)
        VALUES (${delivery.deliveryId}, ${delivery.event}, ${delivery.buildId})
        ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id`.execute(this.#db);
      if (inserted.rows.length > 0) return { recorded: true };
      // A conflicting insert waits for the first one to commit, so the row is visible here.
      const { rows } = await sql<{ build_id: string }>`
        SELECT build_id FROM webhook_deliveries WHERE delivery_id = ${delivery.deliveryId}`.execute(this.#db);
      return { recorded: false, buildId: rows[0]!.build_id };
    });
  }

  async findDelivery(deliveryId: string): Promise<DeliveryRecord | undefined> {
    return this.#run('findDelivery', async () => {
      const { rows } = await sql<DeliveryRow>`
        SELECT delivery_id, event, build_id, received_at FROM webhook_deliveries
        WHERE delivery_id = ${deliveryId}`.execute(this.#db);
      return rows[0] && toDelivery(rows[0]);
    });
  }

  /**
   * Runs one operation, turning "cannot reach the database" into {@link StoreUnavailableError}.
   * A deadlock or serialization failure rolled the statement back whole, so it is simply run
   * again (a few times, with jitter): concurrent upserts of rows in different orders can meet so.
   */
  async #run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError(`${this.#name} is closed (${operation})`);
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const state = sqlState(err);
        if ((state === '40P01' || state === '40001') && attempt < MAX_CONFLICT_RETRIES) {
          await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
          continue;
        }
        if (err instanceof KilnError || !this.#isUnavailable(err)) throw err;
        const reason = err instanceof Error ? err.message : String(err);
        throw new StoreUnavailableError(`cannot reach ${this.#name} (${operation}): ${reason}`, {
          cause: err,
        });
      }
    }
  }
}

/** Reruns of a statement that lost a deadlock or a serialization conflict. */
const MAX_CONFLICT_RETRIES = 8;

function assertVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new InvalidInputError('version', 'version must be a non-negative safe integer');
  }
}

/** SQLSTATE of a driver error (both drivers put it on `code`). */
function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Column values of a build snapshot, in the order of {@link snapshotColumns}. */
function snapshotValues(b: BuildProjection): RawBuilder<unknown>[] {
  return [
    sql`cast(${b.commitSha ?? null} AS text)`,
    sql`cast(${b.ref} AS text)`,
    sql`cast(${b.branch ?? null} AS text)`,
    sql`cast(${b.tag ?? null} AS text)`,
    sql`cast(${b.event} AS text)`,
    sql`cast(${b.actor ?? null} AS text)`,
    sql`cast(${b.status} AS text)`,
    sql`cast(${b.version} AS bigint)`,
    sql`cast(${b.createdAt} AS timestamptz)`,
    sql`cast(${b.startedAt ?? null} AS timestamptz)`,
    sql`cast(${b.finishedAt ?? null} AS timestamptz)`,
    sql`cast(${b.workflowId} AS text)`,
    sql`cast(${JSON.stringify(b.problems)} AS text)::jsonb`,
    sql`cast(${b.message ?? null} AS text)`,
  ];
}

const snapshotColumns = [
  'commit_sha',
  'ref',
  'branch',
  'tag',
  'event',
  'actor',
  'status',
  'version',
  'created_at',
  'started_at',
  'finished_at',
  'workflow_id',
  'problems',
  'message',
];

/**
 * One statement: inserts the build with the next number of its project, or replaces the stored
 * snapshot when this one is newer. Returns the number, or `undefined` when the stored version was
 * already equal or newer.
 *
 * Numbers: max + 1 under the unique index on (project, number). Two first inserts that pick the
 * same number are serialised by that index: the second waits for the first to commit and fails
 * with a unique violation, then retries with the next number. So numbers have no gaps, and a
 * build becomes visible only after every build with a smaller number, which keeps keyset pages
 * stable under inserts. No lock is held between round trips.
 */
async function upsertBuildRow(db: Kysely<unknown>, build: BuildProjection): Promise<number | undefined> {
  const columns = ['id', 'project_id', 'number', ...snapshotColumns].map((c) => sql.ref(c));
  const assignments = snapshotColumns.map((c) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`);
  const { rows } = await sql<{ number: string | number }>`
    INSERT INTO builds (${sql.join(columns)})
    SELECT cast(${build.id} AS text), cast(${build.projectId} AS text), coalesce(max(number), 0) + 1,
           ${sql.join(snapshotValues(build))}
    FROM builds WHERE project_id = ${build.projectId}
    ON CONFLICT (id) DO UPDATE SET ${sql.join(assignments)}, projected_at = now()
    WHERE builds.version < excluded.version
    RETURNING number`.execute(db);
  return rows[0] && Number(rows[0].number);
}

async function storedBuild(
  db: Kysely<unknown>,
  id: string,
): Promise<{ number: number; version: number } | undefined> {
  const { rows } = await sql<{ number: string | number; version: string | number }>`
    SELECT number, version FROM builds WHERE id = ${id}`.execute(db);
  return rows[0] && { number: Number(rows[0].number), version: Number(rows[0].version) };
}
