import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidInputError, KilnError } from '../../shared/errors.ts';
import {
  checkCredentialRequest,
  checkProjectId,
  checkRef,
  checkSecretName,
  checkSecretNames,
  settleReads,
  type ReadOutcome,
} from './errors.ts';
import { withFileLock } from './file-lock.ts';
import type { JobCredential, JobCredentialRequest, ProjectSecretInfo, SecretStoreAdapter } from './port.ts';

interface SealedValue {
  iv: string;
  tag: string;
  data: string;
}

interface ProjectValue extends SealedValue {
  updatedAt: string;
}

/** A job credential as kept in the file: the token only as its SHA-256. */
interface CredentialRecord {
  accessor: string;
  projectId: string;
  names: string[];
  /** Epoch milliseconds. */
  expiresAt: number;
  /** Remaining read budget; absent for unlimited. */
  readsLeft?: number;
}

interface StoreFile {
  format: 2;
  refs: Record<string, SealedValue>;
  projects: Record<string, Record<string, ProjectValue>>;
  /** By SHA-256 of the token (hex). */
  credentials: Record<string, CredentialRecord>;
}

const ACCESSOR = /^kiln-job-[0-9a-f]{24}$/;

/** Expired credentials are kept this long so a late read still fails as denied, then pruned. */
const PRUNE_AFTER_MS = 60_000;

/**
 * The embedded secret store: one JSON file of values sealed with AES-256-GCM under a 32-byte key
 * kept in its own file (mode 0600, created on first use). Where a value belongs (its reference, or
 * project and name) is bound to it as additional authenticated data, so a sealed value moved
 * elsewhere fails to open. Writes go to a temporary file renamed over the old one, so a crash
 * never leaves half a file; read-modify-write cycles hold a lock file, so several processes may
 * share the store. Job credentials are random tokens recorded (hashed) in the same file with
 * their scope, expiry and read budget, and behave as the Vault adapter's do.
 */
export class EncryptedFileSecretStore implements SecretStoreAdapter {
  readonly #file: string;
  readonly #lockFile: string;
  readonly #key: Buffer;
  /** Serialises read-modify-write cycles within the process. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: { file: string; keyFile: string }) {
    this.#file = options.file;
    this.#lockFile = `${options.file}.lock`;
    this.#key = loadOrCreateKey(options.keyFile);
    mkdirSync(dirname(options.file), { recursive: true });
  }

  async put(ref: string, value: string): Promise<void> {
    checkRef(ref);
    await this.#update((all) => {
      all.refs[ref] = this.#seal(ref, value);
    });
  }

  async get(ref: string): Promise<string | undefined> {
    checkRef(ref);
    const sealed = this.#read().refs[ref];
    return sealed && this.#open(ref, sealed, `secret "${ref}"`);
  }

  async delete(ref: string): Promise<void> {
    checkRef(ref);
    await this.#update((all) => {
      delete all.refs[ref];
    });
  }

  async putProjectSecret(projectId: string, name: string, value: string): Promise<ProjectSecretInfo> {
    checkProjectId(projectId);
    checkSecretName(name);
    const updatedAt = new Date().toISOString();
    await this.#update((all) => {
      const project = (all.projects[projectId] ??= dict());
      project[name] = { ...this.#seal(projectAad(projectId, name), value), updatedAt };
    });
    return { name, updatedAt };
  }

  async deleteProjectSecret(projectId: string, name: string): Promise<void> {
    checkProjectId(projectId);
    checkSecretName(name);
    await this.#update((all) => {
      const project = all.projects[projectId];
      if (!project) return;
      delete project[name];
      if (Object.keys(project).length === 0) delete all.projects[projectId];
    });
  }

  async listProjectSecrets(projectId: string): Promise<ProjectSecretInfo[]> {
    checkProjectId(projectId);
    const project = this.#read().projects[projectId] ?? {};
    return Object.entries(project)
      .map(([name, { updatedAt }]) => ({ name, updatedAt }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async issueJobCredential(request: JobCredentialRequest): Promise<JobCredential> {
    const { projectId, names, ttlSeconds, reads } = checkCredentialRequest(request);
    const token = `kiln.${randomBytes(32).toString('base64url')}`;
    const accessor = `kiln-job-${randomBytes(12).toString('hex')}`;
    const expiresAt = Date.now() + ttlSeconds * 1000;
    await this.#update((all) => {
      all.credentials[tokenHash(token)] = {
        accessor,
        projectId,
        names,
        expiresAt,
        ...(reads === undefined ? {} : { readsLeft: reads }),
      };
    });
    return { token, accessor, expiresAt: new Date(expiresAt).toISOString() };
  }

  async resolveWithCredential(
    credential: Pick<JobCredential, 'token'>,
    projectId: string,
    names: string[],
  ): Promise<Record<string, string>> {
    checkProjectId(projectId);
    const wanted = checkSecretNames(names);
    const key = tokenHash(credential.token);
    const outcomes = await this.#update((all): ReadOutcome[] => {
      const record = all.credentials[key];
      const valid = record !== undefined && record.projectId === projectId && Date.now() < record.expiresAt;
      return wanted.map((name): ReadOutcome => {
        if (!record || !valid) return { name, denied: true };
        // Like Vault, every request spends a use, granted or not.
        if (record.readsLeft !== undefined) {
          if (record.readsLeft <= 0) return { name, denied: true };
          record.readsLeft--;
        }
        if (!record.names.includes(name)) return { name, denied: true };
        const sealed = all.projects[projectId]?.[name];
        if (!sealed) return { name, missing: true };
        try {
          return { name, value: this.#open(projectAad(projectId, name), sealed, `secret "${name}"`) };
        } catch (error) {
          return { name, error };
        }
      });
    });
    return settleReads(projectId, outcomes);
  }

  async revokeJobCredential(accessor: string): Promise<void> {
    if (!ACCESSOR.test(accessor)) {
      throw new InvalidInputError('accessor', 'not an accessor of a Kiln job credential');
    }
    await this.#update((all) => {
      for (const [key, record] of Object.entries(all.credentials)) {
        if (record.accessor === accessor) delete all.credentials[key];
      }
    });
  }

  async pruneExpiredCredentials(): Promise<number> {
    const cutoff = Date.now() - PRUNE_AFTER_MS;
    return this.#update((all) => {
      let pruned = 0;
      for (const [key, record] of Object.entries(all.credentials)) {
        if (record.expiresAt < cutoff) {
          delete all.credentials[key];
          pruned++;
        }
      }
      return pruned;
    });
  }

  #seal(aad: string, value: string): SealedValue {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(aad));
    const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return {
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  #open(aad: string, sealed: SealedValue, what: string): string {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(sealed.iv, 'base64'))
        .setAAD(Buffer.from(aad))
        .setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString(
        'utf8',
      );
    } catch (err) {
      throw new KilnError('SECRET_UNREADABLE', `${what} cannot be decrypted (wrong key file?)`, {
        cause: err,
      });
    }
  }

  /** Read, change and write the file, serialised in the process and locked across processes. */
  #update<T>(change: (all: StoreFile) => T): Promise<T> {
    const next = this.#queue.then(() =>
      withFileLock(this.#lockFile, () => {
        const all = this.#read();
        const before = JSON.stringify(all);
        const result = change(all);
        if (JSON.stringify(all) !== before) this.#write(all);
        return result;
      }),
    );
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #read(): StoreFile {
    if (!existsSync(this.#file)) return emptyFile();
    const parsed = JSON.parse(readFileSync(this.#file, 'utf8')) as Partial<StoreFile> &
      Record<string, unknown>;
    // The first format was a flat map of reference → sealed value.
    const file = parsed.format === 2 ? parsed : { refs: parsed as unknown as Record<string, SealedValue> };
    const projects = dict<Record<string, ProjectValue>>();
    for (const [id, values] of Object.entries(file.projects ?? {})) projects[id] = dict(values);
    return { format: 2, refs: dict(file.refs), projects, credentials: dict(file.credentials) };
  }

  #write(all: StoreFile): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(all), { mode: 0o600 });
    renameSync(tmp, this.#file);
  }
}

function emptyFile(): StoreFile {
  return { format: 2, refs: dict(), projects: dict(), credentials: dict() };
}

/** A map without a prototype: names such as `constructor` or `__proto__` are plain keys. */
function dict<T>(from?: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, from);
}

/** Additional authenticated data of a project secret; distinct from every reference (no `:`). */
function projectAad(projectId: string, name: string): string {
  return `project:${projectId}/${name}`;
}

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function loadOrCreateKey(keyFile: string): Buffer {
  if (existsSync(keyFile)) {
    const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (key.length !== 32)
      throw new KilnError('SECRET_KEY_INVALID', `${keyFile}: expected a base64 32-byte key`);
    return key;
  }
  mkdirSync(dirname(keyFile), { recursive: true });
  const key = randomBytes(32);
  // 'wx' fails if another process created the key meanwhile; then use theirs.
  try {
    writeFileSync(keyFile, key.toString('base64'), { mode: 0o600, flag: 'wx' });
    return key;
  } catch {
    return loadOrCreateKey(keyFile);
  }
}
