// The partner dashboard: one page, served by the gateway at /dashboard/, that calls only
// the public REST API through the TypeScript SDK. The secret key typed in is exchanged
// at once for a short-lived read-only session (POST /partner/v1/sessions) and dropped;
// the session token lives in this module's memory only (no storage, no cookie), so a
// reload asks for the key again. docs/dashboard.md.
import { Client, PartnerlyticsError } from "@partnerlytics/client";
import type uPlotType from "uplot";

declare const uPlot: typeof uPlotType; // /dashboard/uplot.js (uPlot's own IIFE build), loaded first

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
type View = { id: string; title: string; render: (api: Client, root: HTMLElement) => Promise<void> };

const origin = window.location.origin;
const params = new URLSearchParams(window.location.search);
const list = (name: string) => (params.get(name) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const ids = { campaigns: list("campaigns"), vouchers: list("vouchers"), tenants: list("tenants").map(Number) };

let session: { api: Client; id: string; expiresAt: string } | null = null;
const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;

// --------------------------------------------------------------------------- formatting

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

/** A number as shown, tagged with where it comes from: `data-api` the request (path and
 * query), `data-path` the field of its JSON answer, `data-scale` what it was multiplied
 * by (a fraction shown as a percentage); tests/sdk/test_dashboard_browser.py reads all three. */
function num(value: unknown, api: string, path: string,
             opts: { currency?: string; unit?: string; fraction?: boolean } = {}): HTMLElement {
  if (value === null || value === undefined || value === "") return el("span", { class: "num none" }, "–");
  const scale = opts.fraction ? 100 : 1;
  const n = Number(value) * scale;
  const text = opts.currency
    ? new Intl.NumberFormat("en-US", { style: "currency", currency: opts.currency }).format(n)
    : numberFormat.format(n);
  return el("span", { class: "num", "data-api": api, "data-path": path, "data-scale": String(scale) },
    text + (opts.fraction ? "%" : opts.unit ?? ""));
}

function figure(label: string, value: HTMLElement): HTMLElement {
  return el("div", { class: "figure" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
}

function figures(items: [string, HTMLElement][]): HTMLElement {
  return el("div", { class: "figures" }, ...items.map(([l, v]) => figure(l, v)));
}

function section(title: string, ...children: Node[]): HTMLElement {
  return el("section", { class: "card" }, el("h3", {}, title), ...children);
}

function empty(text: string): HTMLElement {
  return el("p", { class: "empty" }, text);
}

/** A table of rows; cells are strings or nodes. Scrolls sideways on a phone. */
function table(headers: string[], rows: (string | Node)[][]): HTMLElement {
  if (rows.length === 0) return empty("No rows in this window.");
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c)))))));
}

const utc = (iso: string | undefined) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "–");
const qs = (q: Record<string, string | number | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) s.set(k, String(v));
  const text = s.toString();
  return text ? `?${text}` : "";
};

// --------------------------------------------------------------------------- charts (uPlot)

const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed"];

/** A line (or bar) chart of categorical x labels, sized to its container and redrawn on resize. */
function chart(labels: string[], series: { label: string; values: number[] }[], bars = false): HTMLElement {
  const box = el("div", { class: "chart", role: "img", "aria-label": series.map((s) => s.label).join(", ") });
  if (labels.length === 0) {
    box.append(empty("Nothing to chart in this window."));
    return box;
  }
  const xs = labels.map((_, i) => i);
  const draw = () => {
    box.replaceChildren();
    const width = Math.max(240, box.clientWidth || 600);
    new uPlot({
      width, height: 220,
      scales: { x: { time: false } },
      axes: [
        { values: (_u: unknown, ticks: number[]) => ticks.map((t) => labels[t] ?? ""), space: 90 },
        { size: 56 },
      ],
      series: [{}, ...series.map((s, i) => ({
        label: s.label, stroke: COLORS[i % COLORS.length], width: 2,
        fill: bars ? COLORS[i % COLORS.length] + "99" : undefined,
        paths: bars ? uPlot.paths.bars!({ size: [0.6, 64] }) : undefined,
      }))],
      legend: { show: series.length > 1, live: false },
    }, [xs, ...series.map((s) => s.values)], box);
  };
  requestAnimationFrame(draw);
  new ResizeObserver(() => {
    const canvas = box.querySelector(".uplot") as HTMLElement | null;
    if (canvas && Math.abs(canvas.clientWidth - box.clientWidth) > 24) draw();
  }).observe(box);
  return box;
}

// --------------------------------------------------------------------------- views

const instancesView: View = {
  id: "instances", title: "Instances",
  async render(api, root) {
    const q = { time_frame: "day" as const, limit: 20 };
    const listed = await api.listInstanceAnalytics(q);
    const src = "/partner/v1/instances/analytics" + qs(q);
    const rows = listed.data ?? [];
    root.append(section("Last 24 hours", figures([
      ["Instances", num(listed.pagination?.total, src, "pagination.total")],
      ["Purchases on this page", el("span", {}, String(rows.filter((r) => r.is_purchase).length))],
    ])));
    const journey = el("div", { class: "journey" });
    root.append(section("Instances, newest first", table(["Started", "Instance", "Purchase", "Journey"],
      rows.map((r) => {
        const button = el("button", { type: "button", class: "link" }, "Show");
        button.addEventListener("click", () => void showJourney(api, r.instance_id!, journey));
        return [utc(r.timestamp), r.instance_id ?? "", r.is_purchase ? "yes" : "no", button];
      }))), journey);
  },
};

async function showJourney(api: Client, instanceId: string, box: HTMLElement) {
  await load(box, async (into) => {
    const details = (await api.getInstanceDetails([instanceId], { events: "all" })).data?.[0] as Json;
    const events = (details?.events ?? []) as Json[];
    into.append(section(`Journey of ${instanceId}`,
      table(["When", "Event", "Tracker"], events.map((e) => [utc(e.created_at), String(e.name ?? ""), String(e.tracker_type ?? "")])),
      details?.order ? el("p", {}, `Order total: ${details.order.total ?? details.order.total_amount ?? "–"} ${details.order.currency ?? ""}`) : empty("No order.")));
  });
}

const campaignsView: View = {
  id: "campaigns", title: "Campaigns",
  async render(api, root) {
    if (ids.campaigns.length === 0) {
      root.append(empty("No campaign ids in the address (?campaigns=<id>,<id>)."));
      return;
    }
    const q = { time_frame: "per_month" as const, limit: 5 };
    const answers = await Promise.all(ids.campaigns.map((id) => api.getCampaignAnalytics(id, q)));
    root.append(section("Instances per campaign (this month)", chart(ids.campaigns.map((id) => id.slice(0, 8)),
      [{ label: "Instances", values: answers.map((a) => a.data?.summary?.total_instances ?? 0) },
        { label: "Purchases", values: answers.map((a) => a.data?.summary?.purchase_instances ?? 0) }], true)));
    answers.forEach((answer, i) => {
      const s = answer.data?.summary as Json;
      const src = `/api/partner/v1/campaigns/${ids.campaigns[i]}/analytics` + qs(q);
      root.append(section(`Campaign ${ids.campaigns[i]}`, figures([
        ["Instances", num(s?.total_instances, src, "data.summary.total_instances")],
        ["Purchases", num(s?.purchase_instances, src, "data.summary.purchase_instances")],
        ["Without purchase", num(s?.non_purchase_instances, src, "data.summary.non_purchase_instances")],
        ["Revenue", num(s?.total_revenue, src, "data.summary.total_revenue")],
        ["Conversion rate", num(s?.conversion_rate, src, "data.summary.conversion_rate", { fraction: true })],
      ])));
    });
  },
};

const STATS: [string, string][] = [
  ["total_clicks", "Clicks"], ["total_pageviews", "Pageviews"], ["unique_visitors", "Visitors"],
  ["total_conversions", "Conversions"], ["total_revenue", "Revenue"], ["total_commission", "Commission"],
  ["conversion_rate", "Conversion rate"],
];

const affiliateView: View = {
  id: "affiliate", title: "Affiliates",
  async render(api, root) {
    const [stats, trends, charts, tables, clicks, conversions] = await Promise.all([
      api.getAffiliateAnalytics("stats"), api.getAffiliateAnalytics("trends"), api.getAffiliateAnalytics("charts"),
      api.getAffiliateAnalytics("tables"), api.getAffiliateAnalytics("recent_clicks", { per_page: 10 }),
      api.getAffiliateAnalytics("recent_conversions", { per_page: 10 })]);
    const base = "/v1/affiliate/analytics";
    const filters = stats.data?.filters as Json;
    root.append(el("p", { class: "note" }, `${filters?.from ?? ""} to ${filters?.to ?? ""} (UTC days)`));
    const s = stats.data?.stats as Json;
    root.append(section("Stats", figures(STATS.map(([key, label]) => [label,
      num(s?.[key], base + qs({ section: "stats" }), `data.stats.${key}`, { unit: key.endsWith("rate") ? "%" : "" })]))));
    const t = (trends.data?.trends ?? {}) as Json;
    root.append(section("Change against the previous period", figures(Object.keys(t).map((key) => [key.replace(/_/g, " "),
      num(t[key], base + qs({ section: "trends" }), `data.trends.${key}`, { unit: "%" })]))));
    const c = (charts.data?.charts ?? {}) as Json;
    const overTime = ["clicks_over_time", "pageviews_over_time", "conversions_over_time"].filter((k) => c[k]);
    root.append(section("Over time", chart(c[overTime[0]]?.labels ?? [],
      overTime.map((k) => ({ label: k.replace("_over_time", ""), values: c[k].data as number[] })))));
    if (c.revenue_over_time) root.append(section("Revenue over time", chart(c.revenue_over_time.labels, [{ label: "revenue", values: c.revenue_over_time.data }])));
    if (c.device_breakdown) root.append(section("Devices", chart(c.device_breakdown.labels, [{ label: "clicks", values: c.device_breakdown.data }], true)));
    const tb = (tables.data?.tables ?? {}) as Json;
    for (const [key, rows] of Object.entries(tb)) {
      const items = (rows ?? []) as Json[];
      const headers = items.length ? Object.keys(items[0]) : [];
      root.append(section(key.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase()), table(headers, items.map((row, i) => headers.map((h) =>
        typeof row[h] === "number" ? num(row[h], base + qs({ section: "tables" }), `data.tables.${key}.${i}.${h}`) : String(row[h] ?? "–"))))));
    }
    const feed = (clicks.data?.recent_clicks?.data ?? []) as Json[];
    root.append(section("Recent clicks", table(["When", "Code", "Device", "Country", "Page"],
      feed.map((r) => [utc(r.created_at), r.tracking_code, r.device, r.country ?? "–", r.page_url]))));
    const conv = (conversions.data?.recent_conversions?.data ?? []) as Json[];
    root.append(section("Recent conversions", table(["When", "Order", "Code", "Total", "Commission"],
      conv.map((r) => [utc(r.created_at), r.order_id, r.tracking_code, `${r.order_total} ${r.currency}`, `${r.commission} ${r.currency}`]))));
  },
};

const vouchersView: View = {
  id: "vouchers", title: "Vouchers",
  async render(api, root) {
    if (ids.vouchers.length === 0) {
      root.append(empty("No voucher ids in the address (?vouchers=<id>,<id>)."));
      return;
    }
    for (const id of ids.vouchers) {
      const [perf, trends] = await Promise.all([api.getVoucherPerformance(id), api.getVoucherTrends(id, { interval: "week" })]);
      const p = perf.performance as Json;
      const cur = perf.currency ?? "USD";
      const src = `/v1/analytics/vouchers/${id}/performance`;
      const points = (trends.trends ?? []) as Json[];
      const exportButton = el("button", { type: "button", class: "export" }, "Export CSV");
      exportButton.addEventListener("click", () => downloadCsv(`${perf.code ?? id}-trends.csv`, points));
      const tsrc = `/v1/analytics/vouchers/${id}/trends` + qs({ interval: "week" });
      root.append(section(`${perf.code ?? id}, ${utc(perf.time_period?.start)} to ${utc(perf.time_period?.end)}`,
        figures([
          ["Uses", num(p?.total_uses, src, "performance.total_uses")],
          ["Discount", num(p?.total_discount, src, "performance.total_discount", { currency: cur })],
          ["Conversion rate", num(p?.conversion_rate, src, "performance.conversion_rate", { fraction: true })],
          ["Avg order value", num(p?.avg_order_value, src, "performance.avg_order_value", { currency: cur })],
          ["Revenue impact", num(p?.revenue_impact, src, "performance.revenue_impact", { currency: cur })],
          ["Customers", num(p?.unique_customers, src, "performance.unique_customers")],
          ["Period uses", num(trends.summary?.total_period_uses, tsrc, "summary.total_period_uses")],
        ]),
        chart(points.map((x) => x.date), [{ label: "uses", values: points.map((x) => x.uses ?? 0) },
          { label: "orders", values: points.map((x) => x.orders ?? 0) }]),
        el("div", { class: "actions" }, exportButton)));
    }
  },
};

/** The trends as shown, saved as CSV in the browser: a read-only session cannot create
 * server-side exports (POST /v1/analytics/export writes), a secret key can. */
function downloadCsv(name: string, rows: Json[]) {
  const headers = ["date", "uses", "discount", "orders", "conversion_rate", "avg_order_value"];
  const text = [headers.join(","), ...rows.map((r) => headers.map((h) => r[h] ?? "").join(","))].join("\n") + "\n";
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.getAttribute("href")!), 1000);
}

const landingView: View = {
  id: "landing", title: "Landing pages",
  async render(api, root) {
    if (ids.tenants.length === 0) {
      root.append(empty("No tenant ids in the address (?tenants=1,2)."));
      return;
    }
    const answers = await Promise.all(ids.tenants.map((t) => api.getLandingAnalytics(t)));
    answers.forEach((answer, i) => {
      const d = answer.data as Json;
      const src = `/api/analytics/${ids.tenants[i]}`;
      const days = (d?.last_7_days ?? []) as Json[];
      root.append(section(`Tenant ${ids.tenants[i]}`, figures([
        ["Visitors today", num(d?.visitors_today, src, "data.visitors_today")],
        ["Visitors, 7 days", num(d?.visitors_week, src, "data.visitors_week")],
        ["WhatsApp clicks", num(d?.whatsapp_clicks, src, "data.whatsapp_clicks")],
        ["Call clicks", num(d?.call_clicks, src, "data.call_clicks")],
        ["Currency toggles", num(d?.currency_toggles, src, "data.currency_toggles")],
        ["QR scans", num(d?.qr_scans, src, "data.qr_scans")],
        ["Avg time on page", num(d?.avg_time_on_page, src, "data.avg_time_on_page", { unit: " s" })],
      ]), el("p", { class: "note" }, "Days in the tenant's own time zone."),
      chart(days.map((x) => x.date), [{ label: "visitors", values: days.map((x) => x.visitors ?? 0) }], true)));
    });
  },
};

const VIEWS = [instancesView, campaignsView, affiliateView, vouchersView, landingView];

// --------------------------------------------------------------------------- states

/** Loading, then the content, or the error with its request id and a retry. `stale()`:
 * the user has moved on, the answer is dropped. */
async function load(box: HTMLElement, fill: (into: HTMLElement) => Promise<void>, stale = () => false) {
  box.replaceChildren(el("p", { class: "loading", role: "status" }, "Loading…"));
  box.dataset.state = "loading";
  box.setAttribute("aria-busy", "true");
  const content = el("div", { class: "content" });
  try {
    await fill(content);
    if (stale()) return;
    box.replaceChildren(content);
    box.dataset.state = "ready";
    box.removeAttribute("aria-busy");
  } catch (error) {
    if (!stale()) showError(box, error, () => void load(box, fill, stale));
  }
}

function showError(root: HTMLElement, error: unknown, retry: () => void) {
  if (error instanceof PartnerlyticsError && error.status === 401) {
    logout("Your session ended. Enter the key again.");
    return;
  }
  const button = el("button", { type: "button" }, "Try again");
  button.addEventListener("click", retry);
  const detail = error instanceof PartnerlyticsError
    ? `${error.status}: ${error.message}${error.requestId ? ` (request ${error.requestId})` : ""}`
    : String(error);
  root.replaceChildren(el("div", { class: "error", role: "alert" }, el("p", {}, "Could not load this view."),
    el("p", { class: "detail" }, detail), button));
  root.dataset.state = "error";
  root.removeAttribute("aria-busy");
}

// --------------------------------------------------------------------------- shell

function currentView(): View {
  const id = window.location.hash.replace(/^#/, "");
  return VIEWS.find((v) => v.id === id) ?? VIEWS[0];
}

function renderShell() {
  const nav = $("#tabs");
  nav.replaceChildren(...VIEWS.map((v) => {
    const a = el("a", { href: `#${v.id}`, "data-view": v.id }, v.title);
    if (v === currentView()) a.setAttribute("aria-current", "page");
    return a;
  }));
}

function show() {
  if (!session) return;
  renderShell();
  const view = currentView();
  const root = $("#view");
  root.dataset.view = view.id;
  const api = session.api;
  void loadView(root, view, api);
}

function loadView(root: HTMLElement, view: View, api: Client) {
  return load(root, (into) => view.render(api, into), () => root.dataset.view !== view.id || session?.api !== api);
}

async function login(event: Event) {
  event.preventDefault();
  const input = $<HTMLInputElement>("#key");
  const message = $("#login-message");
  const key = input.value.trim();
  input.value = ""; // the key is not kept: only the session it is exchanged for
  message.textContent = "Signing in…";
  try {
    const created = await new Client({ apiKey: key, baseUrl: origin, maxRetries: 1 }).createSession();
    const data = created.data!;
    session = { api: new Client({ apiKey: data.token, baseUrl: origin }), id: data.id!, expiresAt: data.expires_at! };
    message.textContent = "";
    document.body.dataset.auth = "in";
    $("#session").textContent = `${data.livemode ? "Live" : "Test"} mode · read-only session until ${utc(data.expires_at)}`;
    show();
  } catch (error) {
    message.textContent = error instanceof PartnerlyticsError && error.status === 401
      ? "That key was not accepted." : `Could not sign in: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function logout(text = "") {
  const ending = session;
  session = null;
  if (ending) void ending.api.revokeSession(ending.id).catch(() => undefined);
  document.body.dataset.auth = "out";
  $("#view").replaceChildren();
  $("#login-message").textContent = text;
}

$("#login").addEventListener("submit", (e) => void login(e));
$("#logout").addEventListener("click", () => logout("Signed out."));
window.addEventListener("hashchange", show);
