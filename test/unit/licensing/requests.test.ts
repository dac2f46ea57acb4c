import { describe, expect, it } from 'vitest';
import { parseWith } from '#lib/http/body.ts';
import { machineId, registrationBody } from '#lib/licensing/requests.ts';
import { agentIdOf, machineHashOf } from '#lib/licensing/secrets.ts';

describe('machine ids are normalized at the edge', () => {
  it('lower-cases a machine id, in the registration body and as a blacklist path parameter alike', () => {
    expect(parseWith(machineId, 'MB-1')).toBe('mb-1');
    expect(parseWith(registrationBody, { licenseKey: 'k', machineId: '{4C4C4544-Ab12}', product: 'demo-av', os: 'linux', arch: 'x64' }).machineId).toBe('{4c4c4544-ab12}');
  });

  it('gives every spelling of one id the same machine hash and agent id', () => {
    const spellings = ['MB-1', 'mb-1', 'Mb-1'].map((id) => parseWith(machineId, id));
    expect(new Set(spellings.map(machineHashOf)).size).toBe(1);
    expect(new Set(spellings.map((id) => agentIdOf('l', 'demo-av', id))).size).toBe(1);
  });

  it.each([' mb-1', 'mb-1 ', 'mb 1', 'mb-1\n'])('refuses %j instead of trimming it', (id) => {
    expect(() => parseWith(machineId, id)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
  });
});
