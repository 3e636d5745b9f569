/** A repository Kiln builds. The webhook secret never leaves the API process. */
export interface Project {
  /** Repository full name as GitHub spells it (`owner/name`); also the project's id for now. */
  repo: string;
  cloneUrl: string;
  webhookSecret: string;
  /** @default .ci.yaml */
  pipelinePath: string;
}

/** Where projects come from (a config file now; PostgreSQL later). Lookups are case-insensitive. */
export interface ProjectRegistry {
  findByRepo(repo: string): Project | undefined;
  list(): Project[];
}
