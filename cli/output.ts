/** Printing command results: JSON for scripts (`--json`), aligned key/value lines for people. */
export function printRecord(title: string, record: Record<string, unknown>, asJson: boolean, jsonValue: unknown = record): void {
  if (asJson) {
    console.log(JSON.stringify(jsonValue, null, 2));
    return;
  }
  console.log(title);
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    console.log(`  ${key.padEnd(width)}  ${text}`);
  }
}
