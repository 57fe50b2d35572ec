/* rtdcs page tag (dcs-protocol.md 9; API: docs/destinations.md). Plain JS, no build step.
 * At most 10 KB, hence the unindented body. */
(function () {
'use strict';
if (window.rtdcs && window.rtdcs.version) return;

const me = document.currentScript;
// The DCS base URL: the tag's own folder, with a trailing slash.
const DEFAULT_BASE = me && me.src ? new URL('.', me.src).href : location.origin + '/';
const SEGS = 'rtdcs:segments';
const SYNCS = 'rtdcs:syncs';
const frames = {}; // one dest.html iframe per DCS base + nsid
const fired = {}; // dest ids and URLs fired in this page view
let seq = 0;
let inflight = null; // the last send()
let segs = null; // segment IDs (strings) from the last answer that had them

function load(key) {
  try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; }
}

function save(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* blocked */ }
}

const base = url => new URL(url, location.href).href.replace(/[?#].*$/, '').replace(/\/?$/, '/');

const encode = signals => [].concat(...Object.keys(signals || {}).map(k => [].concat(signals[k])
  .filter(v => v !== null && v !== undefined)
  .map(v => encodeURIComponent(k) + '=' + encodeURIComponent(String(v)))));

// Ask a CMP API: `start(api, done)`; {} when absent, broken or slower than ms.
const ask = (api, ms, start) => new Promise(resolve => {
  if (typeof api !== 'function') return resolve({});
  const t = setTimeout(resolve, ms, {});
  const done = v => { clearTimeout(t); resolve(v); };
  try { start(api, done); } catch (e) { done({}); }
});
const quiet = f => { try { f(); } catch (e) { /* ignore */ } };

// IAB TCF v2 (__tcfapi): {gdpr, gdpr_consent}.
const consent = ms => ask(window.__tcfapi, ms, (api, done) => {
  const got = (tc, ok) => {
    if (!ok || !tc || tc.eventStatus === 'cmpuishown') return;
    if (tc.listenerId !== undefined) quiet(() => api('removeEventListener', 2, () => {}, tc.listenerId));
    done(tc.gdprApplies === false ? {gdpr: 0}
      : tc.gdprApplies === true ? {gdpr: 1, gdpr_consent: tc.tcString || ''} : {});
  };
  try { api('addEventListener', 2, got); } catch (e) { api('getTCData', 2, got); }
});

// IAB GPP 1.1 (__gpp): {gpp, gpp_sid} once the signal is ready; sections [-1] = none.
const gppConsent = ms => ask(window.__gpp, ms, (api, done) => {
  const use = p => p && p.signalStatus === 'ready' && typeof p.gppString === 'string' &&
    (done({gpp: p.gppString,
      gpp_sid: [].concat(p.applicableSections || []).filter(n => n > 0).join(',')}), true);
  api('ping', p => use(p) || api('addEventListener', (e, ok) => {
    if (ok && e && use(e.pingData)) quiet(() => api('removeEventListener', () => {}, e.listenerId));
  }));
});

// The JSON answer plus non-enumerable serverTiming and status; throws on a bad answer.
function result(status, json, serverTiming) {
  if (status !== 200 || !json || typeof json !== 'object') {
    const err = new Error('rtdcs: DCS answered ' + status + (json ? '' : ' without JSON'));
    err.status = status;
    throw err;
  }
  return Object.defineProperties(Object.assign({}, json),
    {serverTiming: {value: serverTiming || ''}, status: {value: status}});
}

function withTimeout(promise, ms, onTimeout) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error('rtdcs: no answer from the DCS within ' + ms + ' ms'));
    }, ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function hidden(el) {
  el.setAttribute('aria-hidden', 'true');
  el.style.cssText = 'display:none;width:0;height:0;border:0';
  (document.body || document.documentElement).appendChild(el);
}

// The hidden dest.html iframe: events (iframe transport), dests and syncs.
function frame(dcs, nsid) {
  const key = dcs + '|' + nsid;
  if (frames[key]) return frames[key];
  const origin = new URL(dcs).origin;
  const f = {ready: false, queue: [], pending: {}, el: document.createElement('iframe')};
  f.post = msg => { if (f.ready) f.el.contentWindow.postMessage(msg, origin); else f.queue.push(msg); };
  window.addEventListener('message', e => {
    const d = e.data;
    if (e.origin !== origin || e.source !== f.el.contentWindow || !d || d.rtdcs !== 1) return;
    if (d.ready) {
      f.ready = true;
      f.queue.splice(0).forEach(f.post);
    } else if (d.result && f.pending[d.result.id]) {
      const r = d.result;
      const p = f.pending[r.id];
      delete f.pending[r.id];
      try { p.resolve(result(r.status, r.json, r.serverTiming)); } catch (err) { p.reject(err); }
    }
  });
  f.el.src = dcs + 'dest.html?d_nsid=' + encodeURIComponent(nsid) + '#' + encodeURIComponent(location.href);
  f.el.title = 'rtdcs';
  hidden(f.el);
  return (frames[key] = f);
}

function viaIframe(dcs, nsid, body, ms) {
  const f = frame(dcs, nsid);
  const id = ++seq;
  return withTimeout(new Promise((resolve, reject) => {
    f.pending[id] = {resolve, reject};
    f.post({rtdcs: 1, event: {id, body}});
  }), ms, () => { delete f.pending[id]; });
}

function viaCors(dcs, body, ms) {
  // A "simple" request (form content type, no custom header): no preflight.
  const ctl = new AbortController();
  return withTimeout(fetch(dcs + 'event', {
    method: 'POST', credentials: 'include', body, signal: ctl.signal,
    headers: {'Content-Type': 'application/x-www-form-urlencoded'}
  }).then(r => r.json().catch(() => null).then(json => result(r.status, json, r.headers.get('Server-Timing')))),
  ms, () => ctl.abort());
}

function https(url) {
  try { return new URL(url).protocol === 'https:'; } catch (e) { return false; }
}

function cookie(name, value, days, dmn) {
  document.cookie = name + '=' + value + '; path=/; max-age=' + Math.round(days * 86400) + '; expires=' +
    new Date(Date.now() + days * 864e5).toUTCString() + (dmn ? '; domain=' + dmn : '');
}

function publish(res, dcs, nsid) {
  (res.stuff || []).forEach(s => {
    const ttl = Number(s && s.ttl);
    if (ttl > 0 && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s.cn) && /^(\.?[A-Za-z0-9.-]+)?$/.test(s.dmn || '')) {
      cookie(s.cn, encodeURIComponent(s.cv == null ? '' : String(s.cv)), ttl, s.dmn);
    }
  });
  if (Array.isArray(res.segments)) save(SEGS, segs = res.segments.map(String));
  else if (!res.uuid) save(SEGS, segs = null); // stopped (opt-out, no consent): forget them
  const once = (url, key) => https(url) && !fired[key || url] && (fired[key || url] = true);
  const toFrame = [];
  (res.dests || []).forEach(d => {
    const url = https(d.c) ? d.c : d.e; // once per page view, by id (%rnd% varies)
    if (once(url, d.id != null && 'd' + d.id)) toFrame.push({tag: d.y === 'iframe' ? 'iframe' : 'img', url, hr: d.hr ? 1 : 0});
  });
  // A sync fires once per ttl minutes per site, even if its partner never calls /ibs back.
  const last = load(SYNCS) || {};
  const now = Date.now();
  (res.ibs || []).forEach(s => now - (last[s.id] || 0) < s.ttl * 6e4 || [].concat(s.url || []).forEach(url => {
    if (!once(url)) return;
    last[s.id] = now;
    const tag = s.tag === 'iframe' ? 'iframe' : 'img';
    if (Number(s.syncOnPage) !== 1) return toFrame.push({tag, url});
    const el = tag === 'img' ? new Image() : document.createElement('iframe');
    el.src = url;
    if (tag !== 'img') hidden(el);
  }));
  save(SYNCS, last);
  if (toFrame.length) frame(dcs, nsid).post({rtdcs: 1, fire: toFrame});
}

function send(signals, options) {
  const o = options || {};
  let dcs;
  try {
    dcs = o.dcs ? base(o.dcs) : DEFAULT_BASE;
  } catch (e) {
    return Promise.reject(new Error('rtdcs: bad dcs URL'));
  }
  const nsid = o.nsid === undefined ? 0 : o.nsid;
  const transport = o.transport || 'iframe';
  if (transport !== 'iframe' && transport !== 'cors') {
    return Promise.reject(new Error('rtdcs: unknown transport ' + transport));
  }
  const sig = signals || {};
  // The first-party UUID cookie (option) goes back as d_uuid; a valid DCS cookie wins.
  const fpid = o.uuidCookie === true ? 'rtdcs_fpid' : o.uuidCookie;
  const fp = fpid && !('d_uuid' in sig) && document.cookie.match('(?:^|; )' + fpid + '=([0-9]{38})(?:;|$)');
  const wait = o.cmpTimeout === undefined ? 500 : o.cmpTimeout;
  // Both CMPs are asked at once, within the same consent wait.
  const cmp = 'gdpr' in sig || 'gdpr_consent' in sig ? Promise.resolve({}) : consent(wait);
  const gpp = 'gpp' in sig ? Promise.resolve({}) : gppConsent(wait);
  return (inflight = Promise.all([cmp, gpp]).then(([tcf, gppSignal]) => {
    // Control keys first: the server keeps the first of a repeated control key.
    const body = ['d_rtbd=json', 'd_dst=1', 'd_jsonv=1', 'd_nsid=' + encodeURIComponent(nsid)]
      .concat(fp ? ['d_uuid=' + fp[1]] : [], encode(tcf), encode(gppSignal), encode(sig))
      .join('&');
    const ms = o.timeout === undefined ? 3000 : o.timeout;
    return transport === 'cors' ? viaCors(dcs, body, ms) : viaIframe(dcs, nsid, body, ms);
  }).then(res => {
    try {
      publish(res, dcs, nsid);
      if (fpid && (res.uuid || (res.errors || []).some(e => e.code === 171))) {
        cookie(fpid, res.uuid || '', res.uuid ? 180 : -1, o.uuidCookieDomain); // or 171: delete
      }
    } catch (e) { /* the response still reaches the page */ }
    return res;
  }));
}

function init(options) {
  const opts = Object.assign({}, options);
  const sig = {};
  const chain = {
    signals: s => { Object.assign(sig, s); return chain; },
    submit: cb => {
      const p = send(sig, opts);
      if (typeof cb === 'function') p.then(r => cb(null, r), e => cb(e));
      return p;
    }
  };
  return chain;
}

// This page view's segments, else the last ones stored on this site.
function segments() {
  const s = segs || load(SEGS);
  return Array.isArray(s) ? s.map(String) : [];
}

function targeting(o) {
  return {[(o && o.key) || 'rtdcs_seg']: segments()};
}

// OpenRTB 2.6 user.data: one Data object; segtax (e.g. 4) in ext.
function ortb2(o) {
  o = o || {};
  const ids = segments();
  const data = {name: o.name || 'rtdcs', segment: ids.map(id => ({id}))};
  if (o.segtax !== undefined) data.ext = {segtax: o.segtax};
  return ids.length ? [data] : [];
}

// Settles when the running send() does, or after ms (default 250); never rejects.
function ready(ms) {
  const wait = new Promise(r => setTimeout(r, ms === undefined ? 250 : ms, 'timeout'));
  return Promise.race([inflight && inflight.then(() => 'answer', () => 'error'), wait]);
}

const counts = {calls: 0, merged: 0, empty: 0, timeouts: 0, failed: 0};
let warned = false;
const stats = () => ({prebid: Object.assign({}, counts)});

// Merge into Prebid's objects in place: since Prebid 10.16 ortb2Fragments.global is a
// getter-only property, so assigning it throws. Only an entry with the same name is replaced.
function mergeUserData(req, data) {
  const f = req.ortb2Fragments || (req.ortb2Fragments = {});
  if (!f.global) f.global = {};
  const g = f.global;
  if (!g.user) g.user = {};
  const u = g.user;
  const kept = (Array.isArray(u.data) ? u.data : []).filter(d => !d || d.name !== data[0].name);
  u.data = kept.concat(data);
}

// Prebid RTD getBidRequestData: when send() settles (<= o.waitMs), merge ortb2(o) into
// ortb2Fragments.global.user.data, then call back exactly once. A failure is counted in
// stats() and warned about once, never thrown into Prebid.
function prebidRtd(req, callback, o) {
  o = o || {};
  counts.calls++;
  let called = false;
  const done = () => { if (!called) { called = true; if (typeof callback === 'function') callback(); } };
  ready(o.waitMs).then(outcome => {
    if (outcome === 'timeout') counts.timeouts++;
    const data = ortb2(o);
    if (!data.length || !req) { counts.empty++; return; }
    mergeUserData(req, data);
    counts.merged++;
  }).catch(e => {
    counts.failed++;
    if (!warned) { warned = true; quiet(() => console.warn('rtdcs: could not add user.data to the bid request', e)); }
  }).then(done, done);
}

window.rtdcs = {version: '1', send, init, segments, targeting, ortb2, prebidRtd, ready, stats};
})();
