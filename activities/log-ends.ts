import { Context } from '@temporalio/activity';
import type { LogTarget } from '../adapters/logs/port.ts';
import { FailureCodes, KilnError } from '../shared/errors.ts';

/**
 * Publishes the end of an attempt's log on behalf of a writer that died before it could
 * (`KafkaLogSinks.end` on the Kafka bus). Absent on the embedded bus, whose followers learn the end
 * from the job's state.
 */
export interface LogEndPublisher {
  end(target: LogTarget): Promise<void>;
}

/** Failures after which the runner that wrote the attempt's log is gone, and with it its end record. */
const WRITER_GONE: readonly string[] = [FailureCodes.RUNNER_LOST, FailureCodes.EVICTED];

/**
 * When `err` says the runner is gone, ends its attempt's log, so live followers stop and the
 * archiver writes the attempt's manifest. Best effort: a bus that cannot take the record is logged,
 * and the runner's own failure is what the job reports either way.
 */
export async function endLogOfLostRunner(
  publisher: LogEndPublisher | undefined,
  target: LogTarget,
  err: unknown,
): Promise<void> {
  if (publisher === undefined || !(err instanceof KilnError) || !WRITER_GONE.includes(err.code)) return;
  try {
    await publisher.end({ buildId: target.buildId, jobKey: target.jobKey, attempt: target.attempt });
  } catch (endErr) {
    Context.current().log.warn(
      `cannot end the log of ${target.buildId}/${target.jobKey} attempt ${target.attempt}: ${String(endErr)}`,
    );
  }
}
