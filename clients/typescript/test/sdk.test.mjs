// The TypeScript SDK against a live stack. tests/sdk/test_sdk_typescript.py starts the stack,
// seeds an account and runs `node --test` with:
//   PARTNERLYTICS_BASE_URL, PARTNERLYTICS_SEED (JSON: keys and ids), PARTNERLYTICS_OPENAPI
//   (docs/openapi.json), PARTNERLYTICS_SMALL_LIMIT (JSON: [bucket, count, seconds]).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  AffiliateApiError, Client, ExportsApiError, LandingApiError, OPERATION_METHODS, PartnerApiError, VoucherApiError,
  WebhooksApiError, verifyWebhookSignature,
} from "../dist/index.js";

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/sdk/test_sdk_typescript.py`);
  return value;
};
const baseUrl = need("PARTNERLYTICS_BASE_URL");
const seed = JSON.parse(need("PARTNERLYTICS_SEED"));
const spec = JSON.parse(readFileSync(need("PARTNERLYTICS_OPENAPI"), "utf8"));
const [, smallCount] = JSON.parse(need("PARTNERLYTICS_SMALL_LIMIT"));
const api = new Client({ apiKey: seed.key, baseUrl });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const today = new Date();
const daysAgo = (n) => new Date(Date.now() - n * 86_400_000);

async function collect(iterator) {
  const out = [];
  for await (const item of iterator) out.push(item);
  return out;
}

async function rejects(promise, Kind) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Kind, `${error} is not a ${Kind.name}`);
    return error;
  }
  assert.fail(`expected a ${Kind.name}`);
}

test("every operation of the spec has a method", () => {
  const operations = Object.values(spec.paths).flatMap((ops) => Object.values(ops)).map((op) => op.operationId);
  assert.deepEqual(Object.keys(OPERATION_METHODS).sort(), operations.sort());
  for (const method of Object.values(OPERATION_METHODS)) assert.equal(typeof Client.prototype[method], "function", method);
});

test("instance and campaign analytics, with paging", async () => {
  const page = await api.listInstanceAnalytics({ time_frame: "day", limit: 2 });
  assert.equal(page.pagination.total, 3);
  assert.equal(page.pagination.hasNext, true);
  assert.match(page.meta.requestId, UUID);
  const all = await collect(api.iterInstanceAnalytics({ time_frame: "day", limit: 2 }));
  assert.deepEqual(all.map((r) => r.instance_id), seed.instance_ids);
  const purchased = await api.listInstanceAnalytics({ is_purchased: true, time_frame: "custom", start_date: daysAgo(1),
    end_date: today });
  assert.deepEqual(purchased.data.map((r) => r.instance_id), seed.instance_ids.slice(0, 1));
  const details = await api.getInstanceDetails(seed.instance_ids.slice(0, 2), { events: "first" });
  assert.deepEqual(details.data.map((d) => d.instance_id), seed.instance_ids.slice(0, 2));
  assert.equal(details.data[0].insider_rewards[0].amount, 2.5);
  const campaign = await api.getCampaignAnalytics(seed.campaign_id, { time_frame: "per_day", limit: 2 });
  assert.equal(campaign.data.summary.total_instances, 3);
  assert.equal(campaign.data.summary.purchase_instances, 1);
  const instances = await collect(api.iterCampaignInstances(seed.campaign_id, { time_frame: "per_month", limit: 1 }));
  assert.deepEqual(instances.map((i) => i.instance_id).sort(), [...seed.instance_ids].sort());
});

test("affiliate analytics: every section and feed", async () => {
  const stats = await api.getAffiliateAnalytics("stats", { metrics: ["total_clicks", "total_conversions"],
    from: daysAgo(1), to: today });
  assert.equal(stats.data.stats.total_clicks, 3);
  assert.equal(stats.data.stats.total_conversions, 1);
  for (const section of ["trends", "charts", "tables"]) {
    assert.ok((await api.getAffiliateAnalytics(section, { top_limit: section === "tables" ? 3 : undefined })).data[section]);
  }
  const clicks = await collect(api.iterAffiliateFeed("recent_clicks", { per_page: 2 }));
  assert.deepEqual(clicks.map((c) => c.tracking_code), [seed.tracking_code, seed.tracking_code, seed.tracking_code]);
  const conversions = await collect(api.iterAffiliateFeed("recent_conversions"));
  assert.deepEqual(conversions.map((c) => [c.order_total, c.currency]), [["49.90", "EUR"]]);
  assert.equal((await collect(api.iterAffiliateFeed("recent_events", { per_page: 1 }))).length, 3);
});

test("affiliate ingestion; a resent batch is stored once", async () => {
  const tag = Math.random().toString(16).slice(2, 10);
  assert.equal((await api.upsertAffiliates([{ id: `a_${tag}`, name: "TS" }])).data.created_count, 1);
  assert.equal((await api.createTrackingCodes([{ code: `TS-${tag}`, affiliate_id: `a_${tag}` }])).data.created_count, 1);
  assert.equal((await api.upsertProducts([{ product_id: `p_${tag}`, name: "TS" }])).data.created_count, 1);
  const at = new Date().toISOString();
  assert.equal((await api.recordConversions([{ order_id: `o_${tag}`, tracking_code: `TS-${tag}`, order_total: "1.00",
    commission: "0.10", currency: "EUR", occurred_at: at, product_ids: [`p_${tag}`] }])).data.created_count, 1);
  const events = Array.from({ length: 5 }, () => ({ type: "click", tracking_code: `TS-${tag}`,
    page_url: "https://shop.example.com/ts", occurred_at: at }));
  assert.deepEqual(await api.ingestEvents(events, 2), { created_count: 5, duplicate_count: 0 });
  assert.ok(events.every((e) => UUID.test(e.id)));
  assert.deepEqual(await api.ingestEvents(events, 3), { created_count: 0, duplicate_count: 5 });
  const single = await api.recordEvents([{ type: "pageview", session_id: tag, page_url: "https://x.example/", occurred_at: at }]);
  assert.equal(single.data.created_count, 1);
});

test("voucher analytics and an export round trip", async () => {
  const performance = await api.getVoucherPerformance(seed.voucher_id, { include_details: true });
  assert.equal(performance.code, seed.voucher_code);
  assert.equal(performance.performance.total_uses, 1);
  assert.equal(performance.details.validations, 1);
  const trends = await api.getVoucherTrends(seed.voucher_id, { interval: "week", metrics: ["uses", "orders"] });
  assert.equal(trends.trends.reduce((sum, p) => sum + p.uses, 0), 1);
  const customers = await api.getVoucherCustomers(seed.voucher_id, { start_date: daysAgo(59) });
  assert.equal(customers.customer_insights.total_customers, 1);
  const started = await api.createExport({ voucher_ids: [seed.voucher_id], metrics: ["uses"], format: "json",
    time_period: { start: daysAgo(30), end: today } });
  assert.equal(started.status, "processing");
  const done = await api.waitForExport(started.export_id, { intervalMs: 200 });
  assert.equal(done.status, "completed");
  const file = await api.downloadExport(started.export_id);
  assert.match(file.contentType, /^application\/json/);
  assert.equal(file.filename, `${started.export_id}.json`);
  assert.equal(JSON.parse(new TextDecoder().decode(file.content)).records[0].voucher_id, seed.voucher_id);
});

test("an export job of the campaign's instances: progress, the file, and a resumed download", async () => {
  const { export: job } = await api.createExportJob({ source: "campaign_instances", format: "jsonl",
    start: daysAgo(30).toISOString(), filters: { campaign_id: seed.campaign_id } });
  assert.equal(job.status, "queued");
  const polls = [];
  const { export: done } = await api.waitForExportJob(job.export_id, { intervalMs: 100, onProgress: (j) => polls.push(j) });
  assert.equal(done.status, "completed");
  assert.equal(done.records_written, 3);
  assert.equal(done.percent, 100);
  assert.ok(polls.length >= 1);
  const file = await api.downloadExportJob(job.export_id);
  assert.equal(file.contentType, "application/x-ndjson");
  assert.equal(file.filename, done.file_name);
  const lines = new TextDecoder().decode(file.content).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.instance_id).sort(), [...seed.instance_ids].sort());
  const rest = await api.downloadExportJob(job.export_id, { from: 10 });
  assert.deepEqual(rest.content, file.content.slice(10));
  const error = await rejects(api.createExportJob({ source: "campaign_instances" }), ExportsApiError);
  assert.equal(error.status, 400);
  assert.equal(error.code, "INVALID_ARGUMENT");
  assert.deepEqual(error.fields.map((f) => f.field), ["filters.campaign_id"]);
});

test("landing analytics, the tracker and the served spec", async () => {
  assert.deepEqual(await api.trackEvent({ tenant_id: seed.tenant_id, event_type: "pageview" }), { success: true });
  const landing = await api.getLandingAnalytics(seed.tenant_id);
  assert.equal(landing.data.last_7_days.length, 7);
  assert.equal(typeof (await api.getLandingToday(seed.tenant_id)).visitors_today, "number");
  assert.match(await api.getTrackerJs(), /data-tenant/);
  assert.equal((await api.getOpenApiDocument()).openapi, spec.openapi);
});

test("a read-only session reads, cannot write, and ends when revoked", async () => {
  const { data: session } = await api.createSession();
  assert.match(session.token, /^sess_test_[A-Za-z0-9]{40}$/);
  const reader = new Client({ apiKey: session.token, baseUrl });
  assert.equal(typeof (await reader.getLandingAnalytics(seed.tenant_id)).data.visitors_week, "number");
  const refused = await rejects(reader.createSession(), PartnerApiError);
  assert.equal(refused.status, 403);
  assert.deepEqual(await reader.revokeSession(session.id), { success: true, id: session.id });
  assert.equal((await rejects(reader.getLandingAnalytics(seed.tenant_id), LandingApiError)).status, 401);
});

test("an error of each family is its typed error with the request id", async () => {
  const partner = await rejects(api.listInstanceAnalytics({ limit: 0, page: 0 }), PartnerApiError);
  assert.equal(partner.status, 400);
  assert.deepEqual(partner.fields.map((f) => f.field).sort(), ["limit", "page"]);
  assert.equal(partner.requestId, partner.envelope.meta.requestId);
  const affiliate = await rejects(api.getAffiliateAnalytics("stats", { metrics: ["clicks"] }), AffiliateApiError);
  assert.deepEqual([affiliate.status, affiliate.code], [422, "VALIDATION_ERROR"]);
  assert.ok("metrics" in affiliate.details);
  const voucher = await rejects(api.getVoucherPerformance(seed.voucher_id, { start_date: "2024-01-01",
    end_date: "2024-04-29" }), VoucherApiError);
  assert.deepEqual([voucher.status, voucher.code, voucher.details.max_days], [400, "INVALID_TIME_PERIOD", 90]);
  assert.match(voucher.requestId, UUID);
  const landing = await rejects(api.getLandingAnalytics(seed.tenant_id + 10_000), LandingApiError);
  assert.deepEqual([landing.status, landing.code], [404, "TENANT_NOT_FOUND"]);
  assert.equal(landing.requestId, landing.envelope.request_id);
  const readOnly = new Client({ apiKey: seed.read_only_key, baseUrl });
  const denied = await rejects(readOnly.getAffiliateAnalytics("stats"), AffiliateApiError);
  assert.deepEqual([denied.status, denied.code], [403, "FORBIDDEN"]);
});

// Calls until the small limit answers a 429 (count + 1 calls within its 1 s window do;
// more are allowed so that a slow machine, whose window slides meanwhile, still gets one).
const MAX_CALLS_TO_A_429 = 20;

test("a 429 is retried after Retry-After", async () => {
  assert.ok(smallCount >= 1);
  const retries = [];
  const client = new Client({ apiKey: seed.key, baseUrl, onRetry: (info) => retries.push(info) });
  for (let i = 0; i < MAX_CALLS_TO_A_429 && retries.length === 0; i++) {
    assert.equal((await client.getVoucherCustomers(seed.voucher_id)).voucher_id, seed.voucher_id);
  }
  assert.ok(retries.length >= 1, "no 429 was answered");
  for (const retry of retries) {
    assert.equal(retry.status, 429);
    assert.ok(retry.waitMs >= 1000 && retry.waitMs % 1000 === 0, `${retry.waitMs} is the header's whole seconds`);
  }
  const impatient = new Client({ apiKey: seed.key, baseUrl, maxRetries: 0 });
  let error;
  for (let i = 0; i < MAX_CALLS_TO_A_429 && !error; i++) {
    error = await impatient.getVoucherCustomers(seed.voucher_id).then(() => undefined, (e) => e);
  }
  assert.ok(error instanceof VoucherApiError);
  assert.deepEqual([error.status, error.code], [429, "RATE_LIMIT_EXCEEDED"]);
  assert.ok(error.retryAfter >= 1);
  assert.match(error.requestId, UUID);
});

test("a webhook signature made by the documented recipe verifies, and nothing altered does", async () => {
  const body = JSON.stringify({ id: "evt_1", type: "voucher.redeemed", data: { code: "SUMMER" } });
  const t = 1_800_000_000;
  const sign = (secret) => createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  const header = `t=${t},v1=${sign("whsec_new")},v1=${sign("whsec_old")}`;
  assert.equal(await verifyWebhookSignature(header, body, "whsec_new", { now: t }), true);
  assert.equal(await verifyWebhookSignature(header, new TextEncoder().encode(body), "whsec_old", { now: t + 299 }), true);
  assert.equal(await verifyWebhookSignature(header, body + " ", "whsec_new", { now: t }), false);
  assert.equal(await verifyWebhookSignature(header, body, "whsec_other", { now: t }), false);
  assert.equal(await verifyWebhookSignature(header, body, "whsec_new", { now: t + 301 }), false);
  assert.equal(await verifyWebhookSignature(`t=${t},${header}`, body, "whsec_new", { now: t }), false);
  assert.equal(await verifyWebhookSignature("", body, "whsec_new", { now: t }), false);
});

test("webhook endpoints: created, changed, tested, logged, deleted; errors are WebhooksApiError", async () => {
  const created = await api.createWebhookEndpoint({ url: "https://hooks.example.com/ts", event_types: ["voucher.redeemed"] });
  assert.match(created.secret, /^whsec_[0-9a-f]{64}$/);
  const id = created.endpoint.id;
  assert.ok((await api.listWebhookEndpoints()).endpoints.some((e) => e.id === id));
  const changed = await api.updateWebhookEndpoint(id, { event_types: [], description: "ts" });
  assert.deepEqual([changed.endpoint.event_types, changed.endpoint.description], [[], "ts"]);
  const got = await api.getWebhookEndpoint(id);
  assert.deepEqual(got.endpoint, changed.endpoint);
  assert.ok(!("secret" in got));
  const rotated = await api.rotateWebhookEndpointSecret(id, { previous_secret_hours: 1 });
  assert.notEqual(rotated.secret, created.secret);
  const sent = await api.sendTestWebhookEvent(id);
  assert.deepEqual((await api.listWebhookDeliveries(id, { limit: 5 })).deliveries.map((d) => d.event_id), [sent.event_id]);
  assert.deepEqual((await api.listWebhookDeliveries(id, { before: new Date("2020-01-01T00:00:00Z") })).deliveries, []);
  assert.equal(typeof (await api.replayWebhookEvents(id, { event_id: sent.event_id })).queued, "number");
  assert.deepEqual(await api.deleteWebhookEndpoint(id), {});
  const error = await rejects(api.deleteWebhookEndpoint(id), WebhooksApiError);
  assert.deepEqual([error.status, error.code], [404, "WEBHOOK_ENDPOINT_NOT_FOUND"]);
  const gone = await rejects(api.getWebhookEndpoint(id), WebhooksApiError);
  assert.deepEqual([gone.status, gone.code], [404, "WEBHOOK_ENDPOINT_NOT_FOUND"]);
});
