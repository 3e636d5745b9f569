import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Project, ProjectRegistry } from './port.ts';

const projectSchema = z.object({
  repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected "owner/name"'),
  cloneUrl: z.string().min(1),
  webhookSecret: z.string().min(8, 'must be at least 8 characters'),
  pipelinePath: z.string().min(1).default('.ci.yaml'),
});
const fileSchema = z.object({ projects: z.array(projectSchema).default([]) }).strict();

/** Thrown when the projects file is unreadable or wrong; the message names the file and the field. */
export class ProjectsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProjectsFileError';
  }
}

/**
 * Projects listed in a YAML file:
 * ```yaml
 * projects:
 *   - repo: acme/web
 *     cloneUrl: https://github.com/acme/web.git
 *     webhookSecret: change-me-please
 *     pipelinePath: .ci.yaml   # optional
 * ```
 * A missing file means no projects (manual builds of a clone URL still work).
 */
export class FileProjectRegistry implements ProjectRegistry {
  readonly #byRepo: Map<string, Project>;

  constructor(projects: Project[]) {
    this.#byRepo = new Map(projects.map((p) => [p.repo.toLowerCase(), p]));
  }

  static load(path: string): FileProjectRegistry {
    if (!existsSync(path)) return new FileProjectRegistry([]);
    let raw: unknown;
    try {
      raw = parse(readFileSync(path, 'utf8')) ?? {};
    } catch (err) {
      throw new ProjectsFileError(`${path}: not valid YAML: ${(err as Error).message}`);
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ProjectsFileError(`${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    const seen = new Set<string>();
    for (const p of parsed.data.projects) {
      const key = p.repo.toLowerCase();
      if (seen.has(key)) throw new ProjectsFileError(`${path}: project "${p.repo}" is listed twice`);
      seen.add(key);
    }
    return new FileProjectRegistry(parsed.data.projects);
  }

  findByRepo(repo: string): Project | undefined {
    return this.#byRepo.get(repo.toLowerCase());
  }

  list(): Project[] {
    return [...this.#byRepo.values()];
  }
}
