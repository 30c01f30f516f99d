/* Partnerlytics landing tracker, served by the gateway at /api/analytics/tracker.js.
 *
 *   <script async src="https://GATEWAY/api/analytics/tracker.js" data-tenant="42"></script>
 *
 * Sends a pageview on load, the time on page when the page is hidden or left, and
 * clicks on elements marked data-track="whatsapp|call|currency|qr|product" (optional
 * data-track-location, data-product-id). Every send is fire-and-forget: fetch with
 * keepalive (a CORS request the gateway answers, preflight included), else
 * navigator.sendBeacon, else an async XMLHttpRequest. It never throws into the page.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__partnerlyticsTracker) { return; }
  window.__partnerlyticsTracker = true;
  var tenantId = parseInt(script.getAttribute("data-tenant"), 10);
  if (!(tenantId > 0)) { return; }
  var endpoint = new URL("track", script.src).href;
  var TYPES = {
    whatsapp: "click_whatsapp", call: "click_call", currency: "click_toggle_currency",
    qr: "qr_scan", product: "product_click"
  };

  function send(eventType, metadata) {
    var body = JSON.stringify({ tenant_id: tenantId, event_type: eventType, metadata: metadata || {} });
    try {
      if (window.fetch) {
        fetch(endpoint, {
          method: "POST", keepalive: true, credentials: "omit", mode: "cors",
          headers: { "Content-Type": "application/json" }, body: body
        })["catch"](function () {});
        return;
      }
      if (navigator.sendBeacon && navigator.sendBeacon(endpoint, body)) { return; }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", endpoint, true);
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.send(body);
    } catch (e) { /* tracking must never break the page */ }
  }

  var visibleSince = Date.now();
  var visibleMs = 0;
  var reported = false;

  function reportTime() {
    if (reported) { return; }
    reported = true;
    if (visibleSince !== null) { visibleMs += Date.now() - visibleSince; visibleSince = null; }
    send("time_on_page", { seconds: Math.round(visibleMs / 1000), path: location.pathname });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { reportTime(); }
  });
  window.addEventListener("pagehide", reportTime);

  document.addEventListener("click", function (event) {
    var el = event.target && event.target.closest ? event.target.closest("[data-track]") : null;
    if (!el) { return; }
    var type = TYPES[el.getAttribute("data-track")];
    if (!type) { return; }
    var metadata = { path: location.pathname };
    var where = el.getAttribute("data-track-location");
    if (where) { metadata.button_location = where; }
    var product = el.getAttribute("data-product-id");
    if (product) { metadata.product_id = product; }
    send(type, metadata);
  }, true);

  var params = new URLSearchParams(location.search);
  var pageview = { path: location.pathname, referrer: document.referrer || "" };
  send("pageview", pageview);
  if (params.get("source") === "qr") { send("qr_scan", { path: location.pathname }); }
}());
