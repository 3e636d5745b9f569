import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KilnError } from '../../shared/errors.ts';
import type { SecretStore } from './port.ts';

interface SealedValue {
  iv: string;
  tag: string;
  data: string;
}

/**
 * The embedded secret store: one JSON file of values sealed with AES-256-GCM under a 32-byte key
 * kept in its own file (mode 0600, created on first use). The reference is bound to each value as
 * additional authenticated data, so a sealed value moved under another reference fails to open.
 * Writes go to a temporary file renamed over the old one, so a crash never leaves half a file.
 */
export class EncryptedFileSecretStore implements SecretStore {
  readonly #file: string;
  readonly #key: Buffer;
  /** Serialises read-modify-write cycles within the process. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: { file: string; keyFile: string }) {
    this.#file = options.file;
    this.#key = loadOrCreateKey(options.keyFile);
  }

  async put(ref: string, value: string): Promise<void> {
    await this.#serial(() => {
      const all = this.#read();
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(ref));
      const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
      all[ref] = {
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      };
      this.#write(all);
    });
  }

  async get(ref: string): Promise<string | undefined> {
    const sealed = this.#read()[ref];
    if (!sealed) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(sealed.iv, 'base64'))
        .setAAD(Buffer.from(ref))
        .setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString(
        'utf8',
      );
    } catch (err) {
      throw new KilnError('SECRET_UNREADABLE', `secret "${ref}" cannot be decrypted (wrong key file?)`, {
        cause: err,
      });
    }
  }

  async delete(ref: string): Promise<void> {
    await this.#serial(() => {
      const all = this.#read();
      if (!(ref in all)) return;
      delete all[ref];
      this.#write(all);
    });
  }

  #serial<T>(fn: () => T): Promise<T> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #read(): Record<string, SealedValue> {
    if (!existsSync(this.#file)) return {};
    return JSON.parse(readFileSync(this.#file, 'utf8')) as Record<string, SealedValue>;
  }

  #write(all: Record<string, SealedValue>): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(all), { mode: 0o600 });
    renameSync(tmp, this.#file);
  }
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
