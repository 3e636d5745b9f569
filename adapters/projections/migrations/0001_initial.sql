-- Build history: projects, builds, jobs and webhook deliveries.
-- Forward-only: never edit a migration that has shipped; add a new numbered file instead.

CREATE TABLE projects (
  id text PRIMARY KEY,
  repo text NOT NULL,
  clone_url text NOT NULL,
  -- A reference into the secrets store (never the secret itself).
  secret_ref text NOT NULL,
  pipeline_path text NOT NULL DEFAULT '.ci.yaml',
  tenant text NOT NULL DEFAULT 'default',
  weight integer NOT NULL DEFAULT 1 CHECK (weight > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Repositories are matched case-insensitively, as GitHub does.
CREATE UNIQUE INDEX projects_repo_key ON projects (lower(repo));

CREATE TABLE builds (
  id text PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  -- Per-project, 1..n without gaps: max + 1 on first insert, guarded by the unique index below.
  -- (Retention must delete oldest builds first, or a deleted newest number would be handed out again.)
  number bigint NOT NULL,
  commit_sha text,
  ref text NOT NULL,
  branch text,
  tag text,
  event text NOT NULL,
  actor text,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'errored')),
  -- Written by the projector, strictly increasing per build: an update with a lower or equal version is ignored.
  version bigint NOT NULL,
  created_at timestamptz NOT NULL,
  started_at timestamptz,
  finished_at timestamptz,
  workflow_id text NOT NULL,
  problems jsonb NOT NULL DEFAULT '[]'::jsonb,
  message text,
  projected_at timestamptz NOT NULL DEFAULT now()
);

-- Lists are newest first by number, which only grows: keyset pages stay stable under inserts.
-- The unique index serves the unfiltered list; one index per filter serves filtered pages in order.
CREATE UNIQUE INDEX builds_project_number_key ON builds (project_id, number DESC);
CREATE INDEX builds_project_branch_idx ON builds (project_id, branch, number DESC);
CREATE INDEX builds_project_status_idx ON builds (project_id, status, number DESC);
CREATE INDEX builds_project_event_idx ON builds (project_id, event, number DESC);
-- Branch and status together ("failed on main", the badge): both may be rare, so neither index alone suffices.
CREATE INDEX builds_project_branch_status_idx ON builds (project_id, branch, status, number DESC);

CREATE TABLE jobs (
  build_id text NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
  key text NOT NULL,
  -- Position in the pipeline when first projected, so lists keep the pipeline's order.
  ordinal integer NOT NULL,
  name text NOT NULL,
  needs jsonb NOT NULL DEFAULT '[]'::jsonb,
  status text NOT NULL CHECK (
    status IN ('pending', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'errored', 'cancelled', 'skipped')
  ),
  attempt integer NOT NULL DEFAULT 0,
  runner_id text,
  exit_code integer,
  failure_code text,
  failed_step text,
  message text,
  started_at timestamptz,
  finished_at timestamptz,
  log_location text,
  version bigint NOT NULL,
  PRIMARY KEY (build_id, key)
);

-- Kept beyond Temporal's retention, so a late redelivery is still recognised and starts nothing.
CREATE TABLE webhook_deliveries (
  delivery_id text PRIMARY KEY,
  event text NOT NULL,
  build_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_deliveries_build_idx ON webhook_deliveries (build_id);
