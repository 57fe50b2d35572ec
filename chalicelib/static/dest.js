/* rtdcs destination-publishing iframe (dcs-protocol.md section 9), loaded by tag.js as
 * <dcs>/dest.html?d_nsid=<n>#<encodeURIComponent(page URL)>.
 *
 * Trusts only window.parent, and only when the message comes from the page origin named in the
 * hash. Accepts {rtdcs:1, event:{id, body}} (POSTs the form, plus the page URL as h_referer, to
 * /event on this origin and replies
 * {rtdcs:1, result:{id, status, json, serverTiming}}) and {rtdcs:1, fire:[{tag, url, hr?}]}
 * (fires https: URLs only, 15 ms apart). Replies go to the page origin only. Plain ES2017.
 */
(function () {
  'use strict';
  const parent = window.parent;
  let pageOrigin = null;
  let pageUrl = '';
  try {
    const page = new URL(decodeURIComponent(location.hash.slice(1)));
    pageOrigin = page.origin;
    page.hash = '';
    pageUrl = page.href;
  } catch (e) { /* no usable page URL: stay inert */ }
  if (parent === window || !pageOrigin || pageOrigin === 'null') return;

  const GAP_MS = 15;
  let nextFireAt = 0;

  function reply(msg) {
    msg.rtdcs = 1;
    parent.postMessage(msg, pageOrigin);
  }

  // The request's own Referer is this iframe, so the page URL goes in the body as h_referer
  // (as Adobe's DIL sends it), unless the page code set h_referer itself.
  function withReferer(body) {
    if (/(^|&)h_referer=/.test(body)) return body;
    return body + (body ? '&' : '') + 'h_referer=' + encodeURIComponent(pageUrl);
  }

  function handleEvent(ev) {
    if (!ev || typeof ev.body !== 'string') return;
    const done = function (status, json, serverTiming) {
      reply({result: {id: ev.id, status: status, json: json, serverTiming: serverTiming || ''}});
    };
    // Relative URL: /event next to dest.html, also under an API Gateway stage path.
    fetch('event', {
      method: 'POST',
      credentials: 'include',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: withReferer(ev.body)
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (json) {
        done(r.status, json, r.headers.get('Server-Timing'));
      });
    }, function () { done(0, null, ''); });
  }

  function https(url) {
    try { return new URL(url).protocol === 'https:'; } catch (e) { return false; }
  }

  function fireOne(item) {
    if (item.tag === 'iframe') {
      const f = document.createElement('iframe');
      f.setAttribute('aria-hidden', 'true');
      f.style.cssText = 'display:none;width:0;height:0;border:0';
      if (item.hr) f.referrerPolicy = 'no-referrer';
      f.src = item.url;
      document.body.appendChild(f);
    } else {
      const img = new Image();
      if (item.hr) img.referrerPolicy = 'no-referrer';
      img.src = item.url;
    }
  }

  function fire(items) {
    items.forEach(function (item) {
      if (!item || typeof item.url !== 'string' || !https(item.url)) return;
      const now = Date.now();
      nextFireAt = Math.max(nextFireAt, now);
      setTimeout(fireOne, nextFireAt - now, item);
      nextFireAt += GAP_MS;
    });
  }

  window.addEventListener('message', function (e) {
    const d = e.data;
    if (e.source !== parent || e.origin !== pageOrigin || !d || d.rtdcs !== 1) return;
    if (d.event) handleEvent(d.event);
    if (Array.isArray(d.fire)) fire(d.fire);
  });

  reply({ready: 1});
})();
