import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, MAX_PAGE_SIZE, pageSize } from '#lib/aws/pages.ts';
import { InvalidRequest } from '#lib/errors.ts';

const partition = { name: 'gsi1pk', value: 'LICENSES' } as const;

describe('list pages and their cursors', () => {
  it('round-trips the key a query stopped at', () => {
    const key = { pk: 'LICENSE#ab', sk: 'LICENSE', gsi1pk: 'LICENSES', gsi1sk: '2026-12-01T00:00:00.000Z#ab' };
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor ?? '', partition)).toEqual(key);
    expect(encodeCursor(undefined)).toBeUndefined();
  });

  it('refuses a cursor it did not make, or one of another list, as 400 on field cursor', () => {
    const otherList = encodeCursor({ pk: 'AGENT#1', sk: 'AGENT', gsi1pk: 'SEATS#1', gsi1sk: 'x' }) ?? '';
    const foreignAttribute = encodeCursor({ gsi1pk: 'LICENSES', secret: 'x' }) ?? '';
    const notAString = encodeCursor({ gsi1pk: 'LICENSES', sk: 1 }) ?? '';
    for (const bad of ['not base64 json!', Buffer.from('[1]').toString('base64url'), Buffer.from('{}').toString('base64url'), otherList, foreignAttribute, notAString]) {
      const error = (() => {
        try {
          decodeCursor(bad, partition);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(InvalidRequest);
      expect((error as InvalidRequest).field).toBe('cursor');
    }
  });

  it('takes a page size of 1 to the maximum, digits only', () => {
    expect(pageSize(undefined)).toBe(50);
    expect(pageSize(undefined, 200)).toBe(200);
    expect(pageSize('1')).toBe(1);
    expect(pageSize(String(MAX_PAGE_SIZE))).toBe(MAX_PAGE_SIZE);
    for (const bad of ['0', String(MAX_PAGE_SIZE + 1), '1e2', ' 5', '-1', '']) expect(() => pageSize(bad)).toThrow(InvalidRequest);
  });
});
