// Request metrics (core/metrics.ts): what /metrics says after requests are served.
import { describe, expect, test } from "bun:test";
import { MetricsRegistry } from "../../core/metrics";

describe("request metrics", () => {
  test("counts by type and outcome, and a cumulative latency histogram per type", () => {
    const m = new MetricsRegistry("gfs_test");
    m.served("create", "ok", 0.3);
    m.served("create", "ok", 2);
    m.served("create", "NOT_FOUND", 0.05);
    m.served("ls", "ok", 20_000);
    const text = m.render();
    expect(text).toContain('gfs_test_requests_total{type="create",outcome="ok"} 2');
    expect(text).toContain('gfs_test_requests_total{type="create",outcome="NOT_FOUND"} 1');
    expect(text).toContain('gfs_test_requests_total{type="ls",outcome="ok"} 1');
    const bucket = (type: string, le: string) => Number(new RegExp(`gfs_test_request_duration_seconds_bucket\\{type="${type}",le="${le.replace(/[.+]/g, "\\$&")}"\\} (\\d+)`).exec(text)?.[1]);
    expect([bucket("create", "0.0001"), bucket("create", "0.0005"), bucket("create", "0.001"), bucket("create", "0.005"), bucket("create", "10"), bucket("create", "+Inf")]).toEqual([1, 2, 2, 3, 3, 3]);
    // 20 s is above every bucket: only +Inf holds it.
    expect([bucket("ls", "10"), bucket("ls", "+Inf")]).toEqual([0, 1]);
    expect(text).toContain('gfs_test_request_duration_seconds_count{type="create"} 3');
  });
});
