/** Types of format.js, for its unit tests (the page loads the .js itself, with no build). */
export declare const AUTO_HALT_ACTOR: string;
export interface ChannelLike {
  product: string;
  channel: string;
  version: string;
  previousVersion?: string;
  percent: number;
  status: 'active' | 'halted';
  updatedBy: string;
}
export declare function share(part: number, total: number): string;
export declare function failureRate(counters: { ok: number; failed: number }): { reports: number; text: string; high: boolean };
export declare function chartBars(versions: ReadonlyArray<{ version: string; agents: number }>, max: number): Array<{ version: string; agents: number; width: number }>;
export declare function ago(iso: string | undefined, now?: number): string;
export declare function channelState(channel: ChannelLike): string;
export declare function promoteSummary(channel: ChannelLike, version: string, percent: number): string;
export declare function haltSummary(channel: ChannelLike): string;
export declare function expiryText(expiresAt: string, now?: number): string;
