import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EnvSchema, loadConfig } from '../../src/config.js';

/*
 * The compose files cannot be run here (no Docker), so what can be checked is checked: each
 * voxline service's environment, with its ${…} filled in as an operator would, is a configuration
 * voxline accepts, naming only settings that exist; and the cluster file's instances share one
 * database and one bucket and differ in their names.
 */

interface Service {
  readonly environment?: Record<string, string | number | boolean | null>;
  readonly build?: string;
}

/** `${NAME:?message}` takes the operator's value (here a sample), `${NAME:-default}` its default. */
function fill(value: string, samples: Readonly<Record<string, string>>): string {
  return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    if (kind === '-') return samples[name] ?? rest ?? '';
    const sample = samples[name];
    if (sample === undefined) throw new Error(`no sample value for required ${name}`);
    return sample;
  });
}

const SAMPLES = {
  PUBLIC_URL: 'https://voxline.example.com',
  TWILIO_AUTH_TOKEN: 'twilio-auth-token-for-the-test',
  ADMIN_TOKEN: 'an-admin-token-of-32-characters!',
  POSTGRES_PASSWORD: 'pg-secret',
  MINIO_PASSWORD: 'minio-secret-123',
  VLLM_URL: 'http://vllm-1:8000,http://vllm-2:8000',
};

function voxlineServices(path: string): Record<string, Record<string, string>> {
  const file = parse(readFileSync(path, 'utf8'), { merge: true }) as { services: Record<string, Service> };
  const out: Record<string, Record<string, string>> = {};
  for (const [name, service] of Object.entries(file.services)) {
    if (service.build === undefined) continue; // postgres, minio, vllm: images, not voxline
    out[name] = Object.fromEntries(
      Object.entries(service.environment ?? {}).map(([k, v]) => [k, fill(String(v ?? ''), SAMPLES)]),
    );
  }
  return out;
}

const known = new Set(Object.keys(EnvSchema.properties));

describe.each(['docker-compose.yml', 'docs/deploy/cluster.compose.yml'])('%s', (path) => {
  it('configures voxline with settings that exist, in a configuration it accepts', () => {
    const services = voxlineServices(path);
    expect(Object.keys(services).length).toBeGreaterThan(0);
    for (const env of Object.values(services)) {
      expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
      expect(() => loadConfig(env)).not.toThrow();
    }
  });
});

describe('the cluster compose file', () => {
  it('runs instances with their own names on one database and one bucket', () => {
    const services = Object.values(voxlineServices('docs/deploy/cluster.compose.yml'));
    expect(services.length).toBeGreaterThanOrEqual(2);
    const configs = services.map((env) => loadConfig(env));
    expect(new Set(configs.map((c) => c.instanceId)).size).toBe(services.length);
    expect(new Set(configs.map((c) => c.database?.url)).size).toBe(1);
    expect(configs[0].database?.url).toMatch(/^postgres:\/\/voxline:pg-secret@postgres:5432\/voxline$/);
    expect(new Set(configs.map((c) => JSON.stringify(c.recordingStore))).size).toBe(1);
    expect(configs[0].recordingStore).toMatchObject({ bucket: 'voxline-recordings', prefix: 'calls' });
  });
});
