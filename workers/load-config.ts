import { ConfigError, loadConfig, type KilnConfig } from '../shared/config.ts';

/** Loads the configuration or stops the process with one line naming the bad variable. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): KilnConfig {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`kiln: bad configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}
