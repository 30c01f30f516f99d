// Verifying a webhook delivery's `Partnerlytics-Signature` header (docs/webhooks.md).

/** The replay window of the documented recipe (docs/webhooks.md), in seconds. */
export const WEBHOOK_TOLERANCE_S = 300;

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameText(a: string, b: string): boolean {
  // Constant time in the length of the expected signature.
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Verifies a delivery's `Partnerlytics-Signature` header (`t=<unix>,v1=<hex>[,v1=<hex>]`):
 * exactly one `t` within `toleranceS` of `now` (seconds; the clock by default) and a `v1`
 * equal to the HMAC-SHA256, keyed by `secret`, of `<t>.` + the raw body as received.
 * Web Crypto only, so it runs in Node 20 and in browsers' workers alike.
 */
export async function verifyWebhookSignature(
  header: string, body: Uint8Array | string, secret: string,
  options: { toleranceS?: number; now?: number } = {},
): Promise<boolean> {
  const parts = header.split(",").filter((p) => p.includes("=")).map((p) => {
    const at = p.indexOf("=");
    return [p.slice(0, at).trim(), p.slice(at + 1).trim()] as const;
  });
  const stamps = parts.filter(([k]) => k === "t").map(([, v]) => v);
  const stamp = stamps.length === 1 ? stamps[0] : undefined;
  if (stamp === undefined || !/^\d+$/.test(stamp)) return false;
  const now = options.now ?? Date.now() / 1000;
  if (Math.abs(now - Number(stamp)) > (options.toleranceS ?? WEBHOOK_TOLERANCE_S)) return false;
  const encoder = new TextEncoder();
  const raw = typeof body === "string" ? encoder.encode(body) : body;
  const prefix = encoder.encode(`${stamp}.`);
  const signed = new Uint8Array(prefix.length + raw.length);
  signed.set(prefix);
  signed.set(raw, prefix.length);
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false,
    ["sign"]);
  const expected = hex(await crypto.subtle.sign("HMAC", key, signed));
  return parts.some(([k, v]) => k === "v1" && sameText(expected, v));
}
