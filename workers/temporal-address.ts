import type { KilnConfig } from '../shared/config.ts';

/** `embedded` means the dev server Kiln starts itself on 127.0.0.1. */
export function temporalAddress(config: KilnConfig): string {
  return config.KILN_TEMPORAL_ADDRESS === 'embedded'
    ? `127.0.0.1:${config.KILN_TEMPORAL_PORT}`
    : config.KILN_TEMPORAL_ADDRESS;
}
