/*! persona.js: the first-party tag of persona-sdk (MIT). ES2017, no dependencies. */
(function (w, d) {
  "use strict";
  if (w.persona && w.persona.v) return; // loaded twice: keep the first

  const V = "0.1.0";
  const s = d.currentScript || d.querySelector("script[data-write-key]") || {};
  const o = s.dataset || {};
  const base = s.src || location.href;
  const MAX_BATCH = 20;
  const MAX_BYTES = 60000; // under the 64 KB keepalive/beacon budget
  const CONSENT = o.consentCookie || "persona_consent";
  let url = new URL(o.endpoint || "collect", base).href;
  if (o.writeKey) url += (url.indexOf("?") < 0 ? "?" : "&") + "writeKey=" + encodeURIComponent(o.writeKey);

  const queue = [];
  const used = {};
  const waiting = new Set(); // batches between retries, sent by beacon if the page goes away
  let timer = 0;
  let userId = store("persona_uid");
  let consent = readConsent();

  function store(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(key);
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (e) { /* storage blocked: keep it in memory only */ }
    return null;
  }

  function readConsent() {
    const m = d.cookie.match(new RegExp("(?:^|; )" + CONSENT + "=([^;]*)"));
    if (!m) return null;
    try {
      const c = JSON.parse(decodeURIComponent(m[1]));
      return c && typeof c === "object" && !Array.isArray(c) ? c : null;
    } catch (e) {
      return null;
    }
  }

  function uuid() {
    if (w.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function context() {
    const c = {
      page: { path: location.pathname, referrer: d.referrer, search: location.search, title: d.title, url: location.href },
      library: { name: "persona.js", version: V },
      locale: navigator.language,
      screen: { width: screen.width, height: screen.height },
    };
    try {
      c.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) { /* old engines */ }
    if (consent) c.consent = { categoryPreferences: Object.assign({}, consent) };
    if (navigator.globalPrivacyControl === true) c.gpc = true;
    return c;
  }

  function enqueue(type, fields) {
    const m = Object.assign({ type: type, messageId: uuid(), timestamp: new Date().toISOString(), context: context() }, fields);
    if (userId && !m.userId) m.userId = userId;
    queue.push(m);
    if (queue.length >= MAX_BATCH) flush();
    else if (!timer) timer = setTimeout(flush, +o.flushMs || 1000);
    return m.messageId;
  }

  function post(batch, unloading) {
    const body = JSON.stringify({ batch: batch, sentAt: new Date().toISOString() });
    if (body.length > MAX_BYTES && batch.length > 1) {
      const half = batch.length >> 1;
      post(batch.slice(0, half), unloading);
      post(batch.slice(half), unloading);
      return;
    }
    if (unloading && navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    fetch(url, { method: "POST", body: body, keepalive: true, credentials: "include" })
      .then((r) => {
        // 429 and 5xx are worth another try; other 4xx mean the data itself is refused
        if (r.status === 429 || r.status >= 500) retry(batch);
      })
      .catch(() => retry(batch));
  }

  function retry(batch) {
    const n = (batch.tries = (batch.tries || 0) + 1);
    if (n > 5) return;
    waiting.add(batch);
    setTimeout(() => {
      if (waiting.delete(batch)) post(batch);
    }, Math.min(30000, (+o.retryMs || 1000) * 2 ** n) * (0.5 + Math.random()));
  }

  function flush(unloading) {
    clearTimeout(timer);
    timer = 0;
    while (queue.length) post(queue.splice(0, MAX_BATCH), unloading === true);
    if (unloading === true) {
      waiting.forEach((b) => post(b, true));
      waiting.clear();
    }
  }

  const api = {
    v: V,
    track(event, properties) {
      return enqueue("track", { event: String(event), properties: properties || {} });
    },
    page(name, properties) {
      if (typeof name === "object" && name) (properties = name), (name = undefined);
      return enqueue("page", { name: name, properties: properties || {} });
    },
    identify(id, traits) {
      if (typeof id === "object" && id) (traits = id), (id = undefined);
      if (id != null) store("persona_uid", (userId = String(id)));
      return enqueue("identify", { userId: userId || undefined, traits: traits || {} });
    },
    consent(update) {
      if (update && typeof update === "object") {
        const next = Object.assign({}, consent);
        Object.keys(update).forEach((k) => {
          if (typeof update[k] === "boolean") next[k] = update[k];
        });
        consent = next;
        d.cookie = CONSENT + "=" + encodeURIComponent(JSON.stringify(next)) + "; Path=/; Max-Age=" + (+o.consentDays || 180) * 86400 + "; SameSite=Lax" + (o.cookieDomain ? "; Domain=" + o.cookieDomain : "") + (location.protocol === "https:" ? "; Secure" : "");
      }
      return consent ? Object.assign({}, consent) : null;
    },
    feature(key) {
      // a flag bootstrapped with its exposure deferred (visitor.evaluate_all()): the first
      // read sends the exposure the server did not log
      const b = w.__persona;
      const f = b && b.features && b.features[key];
      if (!f) return null;
      if (f.exposure && !used[key]) {
        used[key] = 1;
        api.track(f.exposure.event, f.exposure.properties);
      }
      return f.value;
    },
    isOn(key) {
      const b = w.__persona;
      api.feature(key);
      return !!(b && b.features && b.features[key] && b.features[key].on);
    },
    reset() {
      userId = null;
      store("persona_uid", null);
    },
    flush: flush,
  };

  const stub = w.persona;
  w.persona = api;
  addEventListener("pagehide", () => flush(true));
  d.addEventListener("visibilitychange", () => {
    if (d.visibilityState === "hidden") flush(true);
  });
  if (stub && Array.isArray(stub.q)) stub.q.forEach((c) => api[c[0]] && api[c[0]].apply(api, c[1]));
  if (o.autoPage !== "false") api.page();
})(window, document);
