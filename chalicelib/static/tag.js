/* rtdcs page tag (dcs-protocol.md section 9). Plain ES2017, no build step.
 *
 *   rtdcs.send(signals, options) -> Promise<response>
 *     signals: {key: string | number | array}; arrays become repeated keys.
 *     options: dcs (DCS base URL; default: where this script was loaded from),
 *              nsid (default 0), transport ('iframe' default | 'cors'),
 *              cmpTimeout (ms to wait for __tcfapi, default 500),
 *              timeout (ms for the DCS round trip, default 3000).
 *   The promise resolves with the /event JSON object. Two extra, non-enumerable
 *   properties (JSON.stringify ignores them): response.serverTiming (the raw
 *   Server-Timing header, "" if unreadable) and response.status (HTTP status).
 *   It rejects on a timeout, a network failure or a non-200 / non-JSON reply.
 *
 *   rtdcs.init({dcs, nsid, transport, cmpTimeout, timeout}).signals({...}).submit(cb)
 *     chainable sugar; cb(err, response); submit() also returns the promise.
 */
(function () {
  'use strict';
  if (window.rtdcs && window.rtdcs.version) return;

  const me = document.currentScript;
  // DCS base URL with a trailing slash: the tag's own folder ('https://dcs.example/' or '.../api/').
  const DEFAULT_BASE = me && me.src ? new URL('.', me.src).href : location.origin + '/';
  const frames = {};   // one dest.html iframe per DCS base + nsid
  const fired = {};    // URLs fired in this page view
  let seq = 0;

  function base(url) {
    return new URL(url, location.href).href.replace(/[?#].*$/, '').replace(/\/?$/, '/');
  }

  function encode(signals) {
    const parts = [];
    Object.keys(signals || {}).forEach(function (k) {
      [].concat(signals[k]).forEach(function (v) {
        if (v !== null && v !== undefined) parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
      });
    });
    return parts;
  }

  // IAB TCF v2: {gdpr, gdpr_consent} from window.__tcfapi, or {} when absent or too slow.
  function consent(ms) {
    return new Promise(function (resolve) {
      const api = window.__tcfapi;
      if (typeof api !== 'function') return resolve({});
      const timer = setTimeout(function () { resolve({}); }, ms);
      const done = function (tc, ok) {
        if (!ok || !tc || tc.eventStatus === 'cmpuishown') return;
        clearTimeout(timer);
        if (tc.listenerId !== undefined) {
          try { api('removeEventListener', 2, function () {}, tc.listenerId); } catch (e) { /* ignore */ }
        }
        if (tc.gdprApplies === false) resolve({gdpr: 0});
        else if (tc.gdprApplies === true) resolve({gdpr: 1, gdpr_consent: tc.tcString || ''});
        else resolve({});
      };
      try { api('addEventListener', 2, done); } catch (e) {
        try { api('getTCData', 2, done); } catch (e2) { clearTimeout(timer); resolve({}); }
      }
    });
  }

  function result(status, json, serverTiming) {
    if (status !== 200 || !json || typeof json !== 'object') {
      const err = new Error('rtdcs: DCS answered ' + status + (json ? '' : ' without JSON'));
      err.status = status;
      throw err;
    }
    const out = Object.assign({}, json);
    Object.defineProperty(out, 'serverTiming', {value: serverTiming || ''});
    Object.defineProperty(out, 'status', {value: status});
    return out;
  }

  function withTimeout(promise, ms, onTimeout) {
    let timer;
    return Promise.race([promise, new Promise(function (_, reject) {
      timer = setTimeout(function () {
        if (onTimeout) onTimeout();
        reject(new Error('rtdcs: no answer from the DCS within ' + ms + ' ms'));
      }, ms);
    })]).then(function (v) { clearTimeout(timer); return v; },
      function (e) { clearTimeout(timer); throw e; });
  }

  // The hidden dest.html iframe: carries events (iframe transport) and fires dests/syncs.
  function frame(dcs, nsid) {
    const key = dcs + '|' + nsid;
    if (frames[key]) return frames[key];
    const origin = new URL(dcs).origin;
    const f = {ready: false, queue: [], pending: {}, el: document.createElement('iframe')};
    f.post = function (msg) {
      if (f.ready) f.el.contentWindow.postMessage(msg, origin); else f.queue.push(msg);
    };
    window.addEventListener('message', function (e) {
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
    f.el.setAttribute('aria-hidden', 'true');
    f.el.tabIndex = -1;
    f.el.style.cssText = 'display:none;width:0;height:0;border:0';
    (document.body || document.documentElement).appendChild(f.el);
    frames[key] = f;
    return f;
  }

  function viaIframe(dcs, nsid, body, ms) {
    const f = frame(dcs, nsid);
    const id = ++seq;
    return withTimeout(new Promise(function (resolve, reject) {
      f.pending[id] = {resolve: resolve, reject: reject};
      f.post({rtdcs: 1, event: {id: id, body: body}});
    }), ms, function () { delete f.pending[id]; });
  }

  function viaCors(dcs, body, ms) {
    // A "simple" request (form content type, no custom headers): no preflight.
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    return withTimeout(fetch(dcs + 'event', {
      method: 'POST', credentials: 'include', body: body, signal: ctl && ctl.signal,
      headers: {'Content-Type': 'application/x-www-form-urlencoded'}
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (json) {
        return result(r.status, json, r.headers.get('Server-Timing'));
      });
    }), ms, function () { if (ctl) ctl.abort(); });
  }

  function https(url) {
    try { return new URL(url).protocol === 'https:'; } catch (e) { return false; }
  }

  function writeCookies(stuff) {
    (stuff || []).forEach(function (s) {
      const ttl = Number(s && s.ttl);
      if (!s || !(ttl > 0) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s.cn)) return;
      let c = s.cn + '=' + encodeURIComponent(s.cv == null ? '' : String(s.cv)) + '; path=/; max-age=' +
        Math.round(ttl * 86400) + '; expires=' + new Date(Date.now() + ttl * 864e5).toUTCString();
      if (s.dmn) {
        if (!/^\.?[A-Za-z0-9.-]+$/.test(s.dmn)) return;
        c += '; domain=' + s.dmn;
      }
      document.cookie = c;
    });
  }

  function once(url) {
    if (!https(url) || fired[url]) return false;
    fired[url] = 1;
    return true;
  }

  function fireOnPage(tag, url) {
    if (tag === 'iframe') {
      const el = document.createElement('iframe');
      el.setAttribute('aria-hidden', 'true');
      el.style.cssText = 'display:none;width:0;height:0;border:0';
      el.src = url;
      (document.body || document.documentElement).appendChild(el);
    } else {
      new Image().src = url;
    }
  }

  function publish(res, dcs, nsid) {
    writeCookies(res.stuff);
    const toFrame = [];
    (res.dests || []).forEach(function (d) {
      const url = https(d.c) ? d.c : d.e;
      if (once(url)) toFrame.push({tag: d.y === 'iframe' ? 'iframe' : 'img', url: url, hr: d.hr ? 1 : 0});
    });
    (res.ibs || []).forEach(function (s) {
      [].concat(s.url || []).forEach(function (url) {
        if (!once(url)) return;
        if (Number(s.syncOnPage) === 1) fireOnPage(s.tag, url);
        else toFrame.push({tag: s.tag === 'iframe' ? 'iframe' : 'img', url: url});
      });
    });
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
    const needCmp = !('gdpr' in sig) && !('gdpr_consent' in sig);
    return (needCmp ? consent(o.cmpTimeout === undefined ? 500 : o.cmpTimeout) : Promise.resolve({}))
      .then(function (tcf) {
        // Control keys first: the server keeps the first of a repeated control key.
        const body = ['d_rtbd=json', 'd_dst=1', 'd_jsonv=1', 'd_nsid=' + encodeURIComponent(nsid)]
          .concat(encode(tcf), encode(sig)).join('&');
        const ms = o.timeout === undefined ? 3000 : o.timeout;
        return transport === 'cors' ? viaCors(dcs, body, ms) : viaIframe(dcs, nsid, body, ms);
      })
      .then(function (res) {
        try { publish(res, dcs, nsid); } catch (e) { /* the response still reaches the page */ }
        return res;
      });
  }

  function init(options) {
    const opts = Object.assign({}, options);
    const sig = {};
    const chain = {
      signals: function (s) { Object.assign(sig, s); return chain; },
      submit: function (cb) {
        const p = send(sig, opts);
        if (typeof cb === 'function') {
          p.then(function (r) { cb(null, r); }, function (e) { cb(e); });
        }
        return p;
      }
    };
    return chain;
  }

  window.rtdcs = {version: '1', send: send, init: init};
})();
