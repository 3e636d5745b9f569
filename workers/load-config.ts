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

/**
 * Awaits a start-up step that may find a configuration problem only at run time (an isolation
 * mode this host cannot provide, say) and stops the process with one line naming the variable.
 */
export async function orExitOnConfigError<T>(step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`kiln: bad configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}
