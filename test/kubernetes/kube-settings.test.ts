import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.ts';

describe('Kubernetes runner settings', () => {
  it('has defaults that select the local backend and size pods per class', () => {
    const config = loadConfig({});
    expect(config.KILN_RUNNER_BACKEND).toBe('local');
    expect(config.KILN_KUBE_NAMESPACE).toBe('kiln-runners');
    expect(config.KILN_KUBE_RUNTIME_CLASS).toBe('gvisor');
    expect([config.KILN_KUBE_QPS, config.KILN_KUBE_BURST]).toEqual([20, 30]);
    expect(config.KILN_KUBE_RESOURCE_CLASSES.medium).toEqual({ cpu: '2', memory: '4Gi' });
    expect(config.KILN_KUBE_REAPER_MARGIN).toBe(3_600_000);
  });

  it('parses resource classes and names what is wrong', () => {
    const config = loadConfig({
      KILN_RUNNER_BACKEND: 'kubernetes',
      KILN_KUBE_RESOURCE_CLASSES: 'tiny=500m/512Mi',
    });
    expect(config.KILN_KUBE_RESOURCE_CLASSES).toEqual({ tiny: { cpu: '500m', memory: '512Mi' } });
    expect(() => loadConfig({ KILN_KUBE_RESOURCE_CLASSES: 'small=1' })).toThrow(
      /KILN_KUBE_RESOURCE_CLASSES: "small=1": expected name=cpu\/memory/,
    );
    expect(() => loadConfig({ KILN_KUBE_RESOURCE_CLASSES: 'small=lots/2Gi' })).toThrow(/not a CPU quantity/);
    expect(() => loadConfig({ KILN_KUBE_NAMESPACE: 'Not_A_Namespace' })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_RUNNER_BACKEND: 'docker' })).toThrow(/KILN_RUNNER_BACKEND/);
  });
});
