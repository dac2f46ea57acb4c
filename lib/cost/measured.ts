/**
 * DynamoDB units per request, measured by `BENCH_SCALE_WRITE=1 npm run bench -- scale`
 * (bench/suites/scale.ts, 600 agents; docs/scale.md): written by it, not by hand.
 * The cost model (lib/cost/model.ts) and the synth's quota check (cdk/quotas.ts) price
 * requests with these.
 */
export const measuredUnits = {
  "measuredAt": "2026-12-08",
  "agents": 600,
  "perRequest": {
    "registration": {
      "readUnits": 1,
      "writeUnits": 6
    },
    "manifest": {
      "readUnits": 3,
      "writeUnits": 3
    },
    "report": {
      "readUnits": 4.01,
      "writeUnits": 6
    }
  }
} as const;
