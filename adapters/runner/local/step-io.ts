import { StringDecoder } from 'node:string_decoder';
import type { CompiledStep } from '../../../shared/pipeline/types.ts';
import { kilnStepVariables } from '../kiln-env.ts';
import type { RunnerSpec } from '../port.ts';

/** Longer lines are cut into pieces of this many characters, so a line never grows without bound. */
const MAX_LINE_CHARS = 64 * 1024;

/**
 * The environment of one step: a minimal base taken from the supervisor's own environment, then the
 * job env, the step env, and last what Kiln sets itself (`CI`, `KILN_*`), which a pipeline cannot
 * override. `TMPDIR` points into the runner directory so `destroy` removes what steps left there.
 */
export function stepEnv(
  spec: RunnerSpec,
  step: CompiledStep,
  dirs: { workspace: string; tmp: string },
  inherited: NodeJS.ProcessEnv,
): Record<string, string> {
  return {
    PATH: inherited.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: inherited.HOME ?? dirs.workspace,
    LANG: inherited.LANG ?? 'C.UTF-8',
    TMPDIR: dirs.tmp,
    ...spec.env,
    ...step.env,
    // Declared secrets win over env entries of the same name: the job asked for them by name.
    ...spec.secretEnv,
    ...kilnStepVariables(spec, dirs.workspace),
  };
}

/**
 * Cuts a byte stream into text lines (UTF-8 safe across chunks, `\r\n` tolerated). `end` emits a
 * last line that had no newline.
 */
export function createLineSplitter(onLine: (text: string) => void): {
  push(chunk: Buffer): void;
  end(): void;
} {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  const emit = (text: string) => onLine(text.endsWith('\r') ? text.slice(0, -1) : text);
  const take = (text: string) => {
    const parts = (rest + text).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) emit(part);
    while (rest.length > MAX_LINE_CHARS) {
      emit(rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
  };
  return {
    push: (chunk) => take(decoder.write(chunk)),
    end: () => {
      take(decoder.end());
      if (rest !== '') emit(rest);
      rest = '';
    },
  };
}

/** `1.2s`, `45.0s`, `3m 05s`: how long something took, for a person. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
}
