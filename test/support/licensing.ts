/** Arrange helpers for licensing tests against the running local stack (real DynamoDB Local). */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { adminClient } from '#cli/admin-client.ts';
import type { LicenseView } from '#lib/licensing/admin.ts';

export function stackInfo() {
  return inject('stack');
}

export async function admin() {
  const { dataDir, baseUrl } = stackInfo();
  return adminClient({ dataDir, server: baseUrl });
}

export async function createTestLicense(overrides: Partial<{ products: string[]; seats: number; expires: string; reclaimAfterDays: number }> = {}) {
  const client = await admin();
  return client.call<{ licenseKey: string; license: LicenseView }>('POST', '/v1/admin/licenses', {
    customer: `test ${randomUUID()}`,
    products: ['demo-av'],
    seats: 5,
    expires: new Date(Date.now() + 86_400_000).toISOString(),
    ...overrides,
  });
}

export interface RegistrationBody {
  licenseKey: string;
  machineId: string;
  product: string;
  os: string;
  arch: string;
  hostname?: string;
  agentVersion?: string;
}

export function registrationFor(licenseKey: string, overrides: Partial<RegistrationBody> = {}): RegistrationBody {
  return { licenseKey, machineId: `m-${randomUUID()}`, product: 'demo-av', os: 'linux', arch: 'x64', ...overrides };
}

export async function register(body: unknown): Promise<{ status: number; body: Record<string, unknown> & { error?: { code: string; message: string } } }> {
  const response = await fetch(`${stackInfo().baseUrl}/v1/agents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function self(token: string): Promise<{ status: number; body: Record<string, unknown> & { error?: { code: string } } }> {
  const response = await fetch(`${stackInfo().baseUrl}/v1/agents/self`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
