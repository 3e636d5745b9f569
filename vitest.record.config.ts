import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/** Records the replay fixtures from real builds (`test/replay/*.record.ts`); not run by `npm test`. */
export default defineConfig({
  test: { ...base.test, include: ['test/replay/*.record.ts'] },
});
