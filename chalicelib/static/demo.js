/* rtdcs demo page: sends signals with the page tag (tag.js) and shows what comes back.
 *
 * Query parameters prefill the form: c_section, c_cart_total, transport (iframe|cors),
 * dcs (DCS base URL, default: where tag.js came from), nsid; any other parameter becomes a
 * "More signals" line. autosend=0 skips the send on load.
 * For tests: <body> and #status carry data-state (loading|sending|done|error) and <body>
 * data-count counts rendered responses.
 */
(function () {
  'use strict';
  const $ = function (id) { return document.getElementById(id); };
  const query = new URLSearchParams(location.search);
  const OWN_PARAMS = ['c_section', 'c_cart_total', 'transport', 'dcs', 'nsid', 'autosend'];
  const catalog = {traits: {}, segments: {}, providers: {}};
  let rendered = 0;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function fill(container, nodes, emptyNode) {
    container.replaceChildren.apply(container, nodes.length ? nodes : [emptyNode]);
  }

  function setState(state, text) {
    document.body.dataset.state = state;
    $('status').dataset.state = state;
    $('status').textContent = text || state;
    $('send').disabled = state === 'sending';
  }

  // ---- form ----------------------------------------------------------------------------

  function prefill() {
    const section = query.get('c_section');
    if (section) {
      const select = $('c_section');
      if (!Array.from(select.options).some(function (o) { return o.value === section; })) {
        select.appendChild(el('option', {value: section, text: section}));
      }
      select.value = section;
    }
    if (query.get('c_cart_total')) $('c_cart_total').value = query.get('c_cart_total');
    if (query.get('transport') === 'cors') $('transport').value = 'cors';
    const extra = [];
    query.forEach(function (v, k) { if (OWN_PARAMS.indexOf(k) < 0) extra.push(k + '=' + v); });
    $('extra').value = extra.join('\n');
  }

  function collectSignals() {
    // d_cts=1 asks the DCS to return traits and segments (dcs-protocol.md 4.1).
    const signals = {d_cts: 1, c_section: $('c_section').value};
    const cart = $('c_cart_total').value.trim();
    if (cart !== '') signals.c_cart_total = cart;
    $('extra').value.split('\n').forEach(function (line) {
      const at = line.indexOf('=');
      const key = (at < 0 ? '' : line.slice(0, at)).trim();
      if (!key) return;
      signals[key] = [].concat(signals[key] === undefined ? [] : signals[key], line.slice(at + 1).trim());
    });
    return signals;
  }

  // ---- Server-Timing --------------------------------------------------------------------

  // Splits on `sep` outside double-quoted strings.
  function splitOutside(text, sep) {
    const parts = [];
    let cur = '', quoted = false, escaped = false;
    for (const ch of text) {
      if (escaped) { cur += ch; escaped = false; continue; }
      if (quoted && ch === '\\') { cur += ch; escaped = true; continue; }
      if (ch === '"') quoted = !quoted;
      if (ch === sep && !quoted) { parts.push(cur); cur = ''; } else cur += ch;
    }
    parts.push(cur);
    return parts;
  }

  // 'rt-1;dur=31;desc="FastData: answered", rt-total;dur=33' -> [{name, dur, desc}, ...]
  function parseServerTiming(header) {
    return splitOutside(header || '', ',').map(function (entry) {
      const params = splitOutside(entry, ';').map(function (p) { return p.trim(); });
      const metric = {name: params[0], dur: null, desc: ''};
      params.slice(1).forEach(function (p) {
        const at = p.indexOf('=');
        const key = (at < 0 ? p : p.slice(0, at)).trim().toLowerCase();
        let value = at < 0 ? '' : p.slice(at + 1).trim();
        if (value[0] === '"') value = value.slice(1, -1).replace(/\\(.)/g, '$1');
        if (key === 'dur') metric.dur = Number(value);
        if (key === 'desc') metric.desc = value;
      });
      return metric;
    }).filter(function (m) { return m.name; });
  }

  // ---- rendering ------------------------------------------------------------------------

  function traitRefs(rule) {
    const ids = [];
    String(rule || '').replace(/(\d+)T\b/gi, function (_, id) { ids.push(Number(id)); });
    return ids;
  }

  // Merge rules (docs/identity.md): which profiles each rule's segments were evaluated over,
  // e.g. "device + authenticated"; absent when the catalog has no merge rule (device only).
  function profilesOf(res, seg) {
    const rules = res.profiles || [];
    const rule = rules.filter(function (p) {
      return seg.mergeRuleId === null || seg.mergeRuleId === undefined
        ? p['default'] : p.mergeRuleId === seg.mergeRuleId;
    })[0] || rules.filter(function (p) { return p['default']; })[0];
    return rule ? rule.over.join(' + ') : '';
  }

  function renderSegments(res) {
    const realized = new Set(res.traits || []);
    fill($('segments'), (res.segments || []).map(function (sid) {
      const seg = catalog.segments[sid] || {name: 'segment ' + sid, segmentRule: ''};
      const providers = [];
      traitRefs(seg.segmentRule).forEach(function (tid) {
        const t = catalog.traits[tid];
        if (realized.has(tid) && t && t.providerId !== null && t.providerId !== undefined) {
          const name = t.providerName || (catalog.providers[t.providerId] || {}).name || 'provider ' + t.providerId;
          if (providers.indexOf(name) < 0) providers.push(name);
        }
      });
      const over = profilesOf(res, seg);
      return el('li', {'data-sid': sid, 'data-from-provider': providers.length ? '1' : '0',
                       'data-profiles': over}, [
        el('span', {className: 'sid', text: sid}),
        el('strong', {text: seg.name}),
        over ? el('span', {className: 'badge profiles', text: 'over ' + over}) : null,
        providers.length
          ? el('span', {className: 'badge provider', text: 'via ' + providers.join(', ')})
          : el('span', {className: 'badge', text: 'on-site'}),
        seg.segmentRule ? el('span', {className: 'rule', text: seg.segmentRule}) : null
      ]);
    }), el('li', {className: 'empty', text: 'not in any segment'}));
  }

  function renderTraits(res) {
    fill($('traits'), (res.traits || []).map(function (sid) {
      const t = catalog.traits[sid] || {name: 'trait ' + sid};
      return el('li', {'data-sid': sid}, [
        el('span', {className: 'sid', text: sid}),
        el('strong', {text: t.name}),
        t.providerName
          ? el('span', {className: 'badge provider', text: t.providerName})
          : el('span', {className: 'badge', text: t.traitType === 'RULE_BASED_TRAIT' ? 'rule' : 'onboarded'})
      ]);
    }), el('li', {className: 'empty', text: 'no trait realized'}));
  }

  function renderProviders(serverTiming) {
    let total = null;
    const rows = [];
    parseServerTiming(serverTiming).forEach(function (m) {
      if (m.name === 'rt-total') { total = m.dur; return; }
      const pid = /^rt-(.+)$/.exec(m.name);
      if (!pid) return;
      const colon = m.desc.lastIndexOf(': ');
      const known = catalog.providers[pid[1]] || {};
      const name = colon < 0 ? (known.name || m.desc || m.name) : m.desc.slice(0, colon);
      const outcome = colon < 0 ? '' : m.desc.slice(colon + 2);
      rows.push(el('tr', {'data-pid': pid[1], 'data-outcome': outcome}, [
        el('td', {className: 'name', text: name}),
        el('td', {className: 'outcome ' + (outcome === 'empty' ? 'empty-answer' : outcome), text: outcome || '?'}),
        el('td', {className: 'ms', text: m.dur === null || isNaN(m.dur) ? '–' : String(m.dur)})
      ]));
    });
    fill($('providers'), rows, el('tr', {}, [el('td', {colSpan: 3, className: 'empty', text: 'no provider called'})]));
    $('rt-total').textContent = total === null || isNaN(total) ? '–' : total + ' ms';
  }

  function renderCookies(res) {
    const jar = {};
    document.cookie.split('; ').forEach(function (pair) {
      const at = pair.indexOf('=');
      if (at > 0) jar[pair.slice(0, at)] = pair.slice(at + 1);
    });
    fill($('cookies'), (res.stuff || []).map(function (s) {
      const written = Number(s.ttl) > 0 && jar[s.cn] === encodeURIComponent(s.cv);
      return el('li', {'data-name': s.cn}, [
        el('strong', {text: s.cn}), document.createTextNode(' = '), el('code', {text: s.cv}),
        el('span', {className: 'badge', text: s.ttl + ' d · ' + (s.dmn || 'this domain')}),
        el('span', {className: written ? 'badge provider' : 'badge', text: written ? 'written' : 'not written'})
      ]);
    }), el('li', {className: 'empty', text: 'no cookie destination'}));
  }

  function render(res, ms) {
    $('uuid').textContent = res.uuid || 'none (no identity in this response)';
    $('uuid').className = res.uuid ? '' : 'empty';
    renderSegments(res);
    renderTraits(res);
    renderProviders(res.serverTiming);
    renderCookies(res);
    const errors = res.errors || [];
    $('errors-box').hidden = !errors.length;
    fill($('errors'), errors.map(function (e) { return el('li', {text: e.code + ': ' + e.msg}); }), el('li'));
    $('raw').textContent = JSON.stringify(res, null, 2) +
      (res.serverTiming ? '\n\nServer-Timing: ' + res.serverTiming : '');
    $('timing').textContent = 'Round trip ' + ms + ' ms via ' + $('transport').value + '.';
    rendered += 1;
    document.body.dataset.count = String(rendered);
    setState('done', 'done');
  }

  function fail(err) {
    $('errors-box').hidden = false;
    fill($('errors'), [el('li', {text: String(err && err.message || err)})]);
    setState('error', 'error: ' + (err && err.message || err));
  }

  function send() {
    const options = {transport: $('transport').value};
    if (query.get('dcs')) options.dcs = query.get('dcs');
    if (query.get('nsid')) options.nsid = Number(query.get('nsid'));
    setState('sending', 'sending…');
    const t0 = performance.now();
    return window.rtdcs.send(collectSignals(), options).then(function (res) {
      render(res, Math.round(performance.now() - t0));
    }, fail);
  }

  function loadCatalog() {
    return fetch('demo/catalog.json', {credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) throw new Error('catalog: HTTP ' + r.status);
      return r.json();
    }).then(function (c) {
      (c.traits || []).forEach(function (t) { catalog.traits[t.sid] = t; });
      (c.segments || []).forEach(function (s) { catalog.segments[s.sid] = s; });
      (c.providers || []).forEach(function (p) { catalog.providers[p.pid] = p; });
    }, function (err) {
      $('timing').textContent = 'Catalog unavailable (' + err.message + '): names are missing.';
    });
  }

  $('form').addEventListener('submit', function (e) {
    e.preventDefault();
    send();
  });
  prefill();
  if (!window.rtdcs) {
    fail(new Error('tag.js did not load'));
    return;
  }
  loadCatalog().then(function () {
    if (query.get('autosend') === '0') setState('idle', 'ready');
    else send();
  });
})();
