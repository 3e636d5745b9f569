/**
 * Text forms of the Kubernetes runner settings, parsed with messages that say what is wrong.
 */

/** CPU and memory of one resource class of runner pods. */
export interface KubeResourceClass {
  cpu: string;
  memory: string;
}

const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/**
 * `small=1/2Gi; medium=2/4Gi` → `{ small: { cpu: '1', memory: '2Gi' }, ... }`: per resource class,
 * the CPU and memory of its pods (requests equal limits).
 */
export function parseKubeResourceClasses(text: string): Record<string, KubeResourceClass> {
  const classes: Record<string, KubeResourceClass> = {};
  for (const entry of text
    .split(';')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const match = /^([a-z0-9][a-z0-9-]*)\s*=\s*([^/\s]+)\s*\/\s*(\S+)$/.exec(entry);
    if (!match) throw new Error(`"${entry}": expected name=cpu/memory, such as small=1/2Gi`);
    const [, name, cpu, memory] = match as unknown as [string, string, string, string];
    if (!QUANTITY.test(cpu))
      throw new Error(`"${entry}": "${cpu}" is not a CPU quantity (such as 500m or 2)`);
    if (!QUANTITY.test(memory))
      throw new Error(`"${entry}": "${memory}" is not a memory quantity (such as 2Gi)`);
    if (name in classes) throw new Error(`"${entry}": class ${name} is listed twice`);
    classes[name] = { cpu, memory };
  }
  if (Object.keys(classes).length === 0) throw new Error('at least one resource class is needed');
  return classes;
}
