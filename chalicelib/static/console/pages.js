// rtdcs console: the seven pages (docs/console.md). Each page renders into <main> and may
// register timers through ctx.every(), cleared when the user leaves the page.
"use strict";
(function () {
  var RT = window.RT, h = RT.h, api = RT.api, clear = RT.clear, fmt = RT.fmt;

  function list(path) {
    return api("GET", path + (path.indexOf("?") < 0 ? "?" : "&") + "pageSize=1000").then(function (r) { return r.items || []; });
  }

  function errorText(err) {
    return (err && err.message ? err.message : String(err)) + (err && err.code ? " [" + err.code + "]" : "");
  }

  function failure(where, err) {
    where.appendChild(h("p", { class: "error", role: "alert", text: errorText(err) }));
  }

  // Reports land with issue 15; where they are missing the columns simply stay empty.
  function populations(kind, ids) {
    if (!ids.length) return Promise.resolve({});
    return api("GET", "reports/populations?kind=" + kind + "&ids=" + ids.slice(0, 100).join(",") + "&windows=30")
      .then(function (r) {
        var out = {};
        (r.items || []).forEach(function (it) { out[it.id] = it.windows && it.windows["30"]; });
        return out;
      }).catch(function () { return null; });
  }

  function chart(el, label, xs, ys) {
    var width = Math.max(200, el.clientWidth || 300);
    var opts = { width: width, height: 200, legend: { show: true },
      scales: { x: { time: true } },
      series: [{}, { label: label, stroke: "#0b5cad", width: 2, fill: "rgba(11,92,173,0.10)" }],
      axes: [{}, { size: 50 }] };
    clear(el);
    return new window.uPlot(opts, [xs, ys], el);
  }

  function trend(kind, id, where) {
    clear(where);
    where.appendChild(h("p", { class: "muted", text: "Loading the 30-day trend…" }));
    api("GET", "reports/trend?kind=" + kind + "&id=" + id + "&days=30").then(function (r) {
      clear(where);
      var days = r.days || [];
      where.appendChild(h("h2", { text: "30-day trend of " + kind + " " + id }));
      var box = h("div", { class: "chart", "aria-label": "daily uniques" });
      where.appendChild(box);
      chart(box, "uniques", days.map(function (d) { return Date.parse(d.day + "T00:00:00Z") / 1000; }),
            days.map(function (d) { return d.uniques; }));
    }).catch(function (err) { clear(where); failure(where, err); });
  }

  // ---- 1. overview -------------------------------------------------------------------------
  function overview(main, ctx) {
    main.appendChild(h("h1", { text: "Overview" }));
    var note = h("p", { class: "muted", text: "Numbers of the container that answered, refreshed every 10 s." });
    var tiles = h("div", { class: "tiles" });
    var chartBox = h("div", { class: "chart", "aria-label": "events per minute" });
    var codes = h("div", { class: "card" });
    var provs = h("div", { class: "providers" });
    main.appendChild(note);
    main.appendChild(tiles);
    main.appendChild(h("div", { class: "card" }, h("h2", { text: "Events per minute, last hour" }), chartBox));
    main.appendChild(codes);
    main.appendChild(h("h2", { text: "Providers" }));
    main.appendChild(provs);
    var plot = null;
    function tile(k, v) { return h("div", { class: "tile" }, h("div", { class: "k", text: k }), h("div", { class: "v", text: v })); }
    function load() {
      return api("GET", "stats/overview").then(function (s) {
        clear(tiles);
        tiles.appendChild(tile("events (last hour)", fmt(s.events)));
        tiles.appendChild(tile("/event p50", s.latencyMs.p50 === null ? "–" : s.latencyMs.p50 + " ms"));
        tiles.appendChild(tile("/event p99", s.latencyMs.p99 === null ? "–" : s.latencyMs.p99 + " ms"));
        var xs = s.eventsPerMinute.map(function (p) { return p.minute; });
        var ys = s.eventsPerMinute.map(function (p) { return p.events; });
        if (plot) plot.setData([xs, ys]); else plot = chart(chartBox, "events", xs, ys);
        clear(codes);
        var errs = Object.keys(s.errors);
        var priv = Object.keys(s.privacy);
        codes.appendChild(h("h2", { text: "Error codes" }));
        codes.appendChild(errs.length ? h("p", {}, errs.map(function (c) { return h("span", { class: "badge bad", text: c + " × " + s.errors[c] }); }).reduce(function (a, b) { return a.concat([b, " "]); }, []))
          : h("p", { class: "muted", text: "No error codes in the last hour." }));
        codes.appendChild(h("h2", { text: "Privacy outcomes" }));
        codes.appendChild(priv.length ? h("p", {}, priv.map(function (c) { return h("span", { class: "badge", text: c + " × " + s.privacy[c] }); }).reduce(function (a, b) { return a.concat([b, " "]); }, []))
          : h("p", { class: "muted", text: "No events in the last hour." }));
        clear(provs);
        var ps = (s.providers && s.providers.providers) || {};
        var pids = Object.keys(ps);
        if (!pids.length) provs.appendChild(h("p", { class: "muted", text: "No provider calls yet." }));
        pids.forEach(function (pid) {
          var p = ps[pid];
          var errors = Object.keys(p.errors || {}).reduce(function (n, k) { return n + p.errors[k]; }, 0);
          var state = (p.breaker && p.breaker.state) || "closed";
          provs.appendChild(h("div", { class: "tile" },
            h("div", { class: "k", text: "provider " + pid }),
            h("div", { class: "v", text: p.name || ("#" + pid) }),
            h("div", {}, "calls " + fmt(p.calls) + " · answered " + fmt(p.answers) + " · timeouts " + fmt(p.timeouts) + " · errors " + fmt(errors)),
            h("div", {}, "p99 " + (p.latency_ms && p.latency_ms.p99 !== null ? p.latency_ms.p99 + " ms" : "–") + " · breaker ",
              h("span", { class: "badge " + (state === "closed" ? "good" : "bad"), text: state }))));
        });
      }).catch(function (err) { clear(tiles); failure(tiles, err); });
    }
    load();
    ctx.every(10000, load);
  }

  // ---- generic catalog list + editor ---------------------------------------------------------
  var FIELDS = {
    datasource: [
      { name: "name", label: "Name", required: true },
      { name: "idType", label: "ID type", type: "select", options: ["COOKIE", "CROSS_DEVICE"] },
      { name: "integrationCode", label: "Integration code" },
      { name: "description", label: "Description" }
    ],
    provider: [
      { name: "name", label: "Name", required: true },
      { name: "dataSourceId", label: "Data source id", type: "number", required: true },
      { name: "url", label: "URL", required: true, placeholder: "https://provider.example/rt" },
      { name: "status", label: "Status", type: "select", options: ["active", "paused"] },
      { name: "timeoutMs", label: "Timeout (ms)", type: "number", help: "10 to 2000; default 150" },
      { name: "idMode", label: "ID mode", type: "select", options: ["synced", "uuid"] },
      { name: "signals", label: "Signals forwarded", type: "list", help: "comma-separated patterns, e.g. c_*, h_referer" },
      { name: "cacheTtlSeconds", label: "Cache TTL (s)", type: "number" }
    ]
  };

  function crud(opts) {
    // opts: kind, path, idField, title, fields(values) , columns, actions(row, refresh), validate
    var box = h("section", { class: "card", "aria-label": opts.title });
    var editor = h("div");
    var listBox = h("div");
    var search = opts.searchable ? h("input", { type: "search", placeholder: "Search by name or id", "aria-label": "Search " + opts.title }) : null;
    var rows = [];
    var armed = {};
    var refused = {};
    box.appendChild(h("h2", { text: opts.title }));
    box.appendChild(h("div", { class: "row" }, search,
      h("button", { type: "button", class: "secondary", text: "New " + opts.noun, onclick: function () { edit(null); } })));
    box.appendChild(editor);
    box.appendChild(listBox);
    function draw() {
      clear(listBox);
      var q = search ? search.value.trim().toLowerCase() : "";
      var shown = rows.filter(function (r) {
        return !q || String(r[opts.idField]) === q || String(r.name || "").toLowerCase().indexOf(q) >= 0;
      });
      listBox.appendChild(RT.table(opts.columns.concat([{ label: "", cell: function (r) { return actions(r); } }]), shown));
    }
    function refresh() {
      return list(opts.path).then(function (items) {
        rows = items;
        draw();
        if (opts.loaded) opts.loaded(items, draw);
      }).catch(function (err) { clear(listBox); failure(listBox, err); });
    }
    function actions(row) {
      var out = h("div", { class: "row" });
      out.appendChild(h("button", { type: "button", class: "secondary", text: "Edit", "aria-label": "Edit " + opts.noun + " " + row[opts.idField], onclick: function () { edit(row); } }));
      if (opts.extra) opts.extra(row, out);
      // The armed state and the refusal live outside the row: a redraw (populations) keeps them.
      var id = row[opts.idField];
      var del = h("button", { type: "button", class: armed[id] ? "danger" : "secondary", text: armed[id] ? "Confirm delete" : "Delete", "aria-label": "Delete " + opts.noun + " " + id });
      var msg = h("span", { class: "error", role: "alert", text: refused[id] || "" });
      del.addEventListener("click", function () {
        if (!armed[id]) { armed[id] = true; del.textContent = "Confirm delete"; del.className = "danger"; return; }
        delete armed[id];
        api("DELETE", opts.path + "/" + id).then(function () { RT.toast(opts.noun + " " + id + " deleted"); refresh(); })
          .catch(function (err) { refused[id] = errorText(err); draw(); });
      });
      out.appendChild(del);
      out.appendChild(msg);
      return out;
    }
    function edit(row) {
      clear(editor);
      var fields = opts.fields(row);
      var f = RT.form(fields, row || opts.defaults || {}, function (values) {
        var body = row ? Object.assign({}, row, values) : values;
        var call = row ? api("PUT", opts.path + "/" + row[opts.idField], body) : api("POST", opts.path, body);
        return call.then(function (saved) {
          clear(editor);
          RT.toast(opts.noun + " " + saved[opts.idField] + " saved");
          return refresh();
        });
      }, row ? "Save " + opts.noun + " " + row[opts.idField] : "Create " + opts.noun);
      editor.appendChild(h("div", { class: "card" }, h("h2", { text: row ? "Edit " + opts.noun + " " + row[opts.idField] : "New " + opts.noun }), f.el,
        h("button", { type: "button", class: "link", text: "Cancel", onclick: function () { clear(editor); } })));
      if (opts.afterForm) opts.afterForm(f, row);
      var first = f.el.querySelector("input, select, textarea");
      if (first) first.focus();
    }
    if (search) search.addEventListener("input", draw);
    refresh();
    return { el: box, refresh: refresh };
  }

  // ---- 2. providers and data sources ---------------------------------------------------------
  function providers(main) {
    main.appendChild(h("h1", { text: "Providers and data sources" }));
    var ds = crud({ kind: "datasource", path: "datasources", idField: "dataSourceId", title: "Data sources", noun: "data source",
      fields: function () { return FIELDS.datasource; },
      columns: [{ label: "id", cell: function (r) { return r.dataSourceId; } },
                { label: "name", cell: function (r) { return r.name; } },
                { label: "ID type", narrow: false, cell: function (r) { return r.idType; } },
                { label: "integration code", narrow: false, cell: function (r) { return r.integrationCode || ""; } }] });
    var pv = crud({ kind: "provider", path: "providers", idField: "pid", title: "Real-time providers", noun: "provider",
      fields: function () { return FIELDS.provider; }, defaults: { status: "active", timeoutMs: 150, idMode: "synced" },
      columns: [{ label: "pid", cell: function (r) { return r.pid; } },
                { label: "name", cell: function (r) { return r.name; } },
                { label: "data source", cell: function (r) { return r.dataSourceId; } },
                { label: "url", narrow: false, cell: function (r) { return r.url; } },
                { label: "status", cell: function (r) { return r.status; } }],
      extra: function (row, out) {
        var verdict = h("div", { class: "verdict", "aria-live": "polite" });
        out.appendChild(h("button", { type: "button", class: "secondary", text: "Test call", "aria-label": "Test call provider " + row.pid, onclick: function () {
          clear(verdict).appendChild(h("span", { class: "muted", text: "calling…" }));
          api("POST", "providers/" + row.pid + "/test", {}).then(function (r) {
            clear(verdict);
            verdict.appendChild(h("span", { class: "badge " + (r.verdict === "pass" ? "good" : "bad"), text: r.verdict }));
            verdict.appendChild(document.createTextNode(" p50 " + r.p50Ms + " ms, max " + r.maxMs + " ms (timeout " + r.timeoutMs + " ms)"));
            r.problems.forEach(function (p) { verdict.appendChild(h("div", { class: "error", text: p })); });
          }).catch(function (err) { clear(verdict); failure(verdict, err); });
        } }));
        out.appendChild(verdict);
      } });
    main.appendChild(ds.el);
    main.appendChild(pv.el);
  }

  // ---- rule checking as you type -------------------------------------------------------------
  function ruleChecker(kind, input) {
    var echo = h("div", { class: "rule-echo hidden", "aria-live": "polite" });
    var status = h("div", { class: "rule-status", "aria-live": "polite" });
    var seq = 0;
    var check = RT.debounce(function () {
      var rule = input.value;
      var mine = ++seq;
      if (!rule.trim()) { status.textContent = ""; echo.className = "rule-echo hidden"; return; }
      api("POST", "rules/validate", { kind: kind, rule: rule }).then(function (r) {
        if (mine !== seq) return;
        if (!r.valid) throw new RT.ApiError(400, r);
        status.className = "rule-status ok";
        status.textContent = "✓ rule is valid";
        echo.className = "rule-echo hidden";
      }).catch(function (err) {
        if (mine !== seq) return;
        status.className = "rule-status error";
        var pos = err.position;
        status.textContent = err.message + (pos !== undefined && pos !== null ? " (at position " + pos + ")" : "");
        clear(echo);
        if (pos !== undefined && pos !== null) {
          echo.className = "rule-echo";
          echo.appendChild(document.createTextNode(rule.slice(0, pos)));
          echo.appendChild(h("mark", { text: rule.slice(pos, pos + 1) || " " }));
          echo.appendChild(document.createTextNode(rule.slice(pos + 1)));
        } else echo.className = "rule-echo hidden";
      });
    }, 250);
    input.addEventListener("input", check);
    return h("div", {}, status, echo);
  }

  // ---- 3. traits -----------------------------------------------------------------------------
  function traits(main) {
    main.appendChild(h("h1", { text: "Traits" }));
    var trendBox = h("div", { class: "card hidden" });
    var pops = {};
    var c = crud({ kind: "trait", path: "traits", idField: "sid", title: "Traits", noun: "trait", searchable: true,
      defaults: { traitType: "RULE_BASED_TRAIT", ttl: 120 },
      fields: function () {
        return [
          { name: "name", label: "Name", required: true },
          { name: "traitType", label: "Type", type: "select", options: [["RULE_BASED_TRAIT", "rule-based"], ["ON_BOARDED_TRAIT", "onboarded"]] },
          { name: "dataSourceId", label: "Data source id", type: "number", required: true },
          { name: "traitRule", label: "Rule", type: "textarea", help: "e.g. c_section == \"sports\"",
            after: function (input) { return ruleChecker("trait", input); } },
          { name: "providerSegmentId", label: "Provider segment id", help: "onboarded traits only" },
          { name: "ttl", label: "TTL (days)", type: "number" }
        ];
      },
      columns: [{ label: "sid", cell: function (r) { return r.sid; } },
                { label: "name", cell: function (r) { return r.name; } },
                { label: "type", narrow: false, cell: function (r) { return r.traitType === "RULE_BASED_TRAIT" ? "rule-based" : "onboarded"; } },
                { label: "data source", narrow: false, cell: function (r) { return r.dataSourceId; } },
                { label: "population 30 d", cell: function (r) { var p = pops[r.sid]; return p ? fmt(p.uniques) : ""; } }],
      extra: function (row, out) {
        out.appendChild(h("button", { type: "button", class: "secondary", text: "Trend", "aria-label": "Trend of trait " + row.sid, onclick: function () {
          trendBox.className = "card"; trend("trait", row.sid, trendBox); } }));
      },
      loaded: function (items, draw) {
        populations("trait", items.map(function (t) { return t.sid; })).then(function (p) { if (p) { pops = p; draw(); } });
      } });
    main.appendChild(c.el);
    main.appendChild(trendBox);
  }

  // ---- 4. segments ---------------------------------------------------------------------------
  function segments(main) {
    main.appendChild(h("h1", { text: "Segments" }));
    var trendBox = h("div", { class: "card hidden" });
    var pops = {};
    var c = crud({ kind: "segment", path: "segments", idField: "sid", title: "Segments", noun: "segment", searchable: true,
      defaults: { status: "active" },
      fields: function () {
        return [
          { name: "name", label: "Name", required: true },
          { name: "segmentRule", label: "Rule", type: "textarea", required: true, help: "e.g. 1001T OR 1002T",
            after: function (input) { return ruleChecker("segment", input); } },
          { name: "status", label: "Status", type: "select", options: ["active", "paused"] },
          { name: "dataSourceId", label: "Data source id", type: "number" }
        ];
      },
      columns: [{ label: "sid", cell: function (r) { return r.sid; } },
                { label: "name", cell: function (r) { return r.name; } },
                { label: "rule", narrow: false, cell: function (r) { return r.segmentRule; } },
                { label: "status", narrow: false, cell: function (r) { return r.status; } },
                { label: "population 30 d", cell: function (r) { var p = pops[r.sid]; return p ? fmt(p.uniques) : ""; } }],
      extra: function (row, out) {
        out.appendChild(h("button", { type: "button", class: "secondary", text: "Trend", "aria-label": "Trend of segment " + row.sid, onclick: function () {
          trendBox.className = "card"; trend("segment", row.sid, trendBox); } }));
      },
      loaded: function (items, draw) {
        populations("segment", items.map(function (s) { return s.sid; })).then(function (p) { if (p) { pops = p; draw(); } });
      } });
    main.appendChild(c.el);
    main.appendChild(trendBox);
    main.appendChild(overlapPicker());
  }

  function overlapPicker() {
    var box = h("section", { class: "card", "aria-label": "Overlap" });
    var out = h("div", { "aria-live": "polite" });
    var inputs = ["a", "b", "c"].map(function (k) {
      return h("input", { type: "text", name: k, "aria-label": "audience " + k, placeholder: k === "c" ? "optional, e.g. trait:1001" : "e.g. segment:5001" });
    });
    box.appendChild(h("h2", { text: "Overlap of 2-3 audiences (30 days)" }));
    box.appendChild(h("div", { class: "row" }, inputs, h("button", { type: "button", text: "Compare", onclick: function () {
      var q = ["a", "b", "c"].map(function (k, i) { var v = inputs[i].value.trim(); return v ? k + "=" + encodeURIComponent(v) : ""; }).filter(Boolean).join("&");
      clear(out);
      api("GET", "reports/overlap?" + q + "&window=30").then(function (r) {
        var regions = r.regions || {};
        out.appendChild(h("div", { class: "venn" }, Object.keys(regions).map(function (k) {
          return h("div", { class: "tile" }, h("div", { class: "k", text: k.length > 1 ? "only in " + k.split("").join(" ∩ ") : "only in " + k }), h("div", { class: "v", text: fmt(regions[k].uniques) }));
        }).concat([h("div", { class: "tile" }, h("div", { class: "k", text: "all (intersection)" }), h("div", { class: "v", text: fmt(r.intersection && r.intersection.uniques) })),
                   h("div", { class: "tile" }, h("div", { class: "k", text: "union" }), h("div", { class: "v", text: fmt(r.union && r.union.uniques) }))])));
      }).catch(function (err) { failure(out, err); });
    } })));
    box.appendChild(out);
    return box;
  }

  // ---- 5. destinations -----------------------------------------------------------------------
  var DEST_FIELDS = {
    ADS: [{ name: "cookieName", label: "Cookie name", required: true },
          { name: "formatType", label: "Format", type: "select", options: ["single_key", "key_value"] },
          { name: "singleKey", label: "Key (single_key)" }],
    PUSH: [{ name: "urlFormatString", label: "URL format", help: "http(s)://…%ALIAS%" },
           { name: "secureUrlFormatString", label: "Secure URL format", help: "https://…%ALIAS%" },
           { name: "serializationEnabled", label: "Serialized", type: "bool" }],
    S2S: [{ name: "url", label: "URL", required: true },
          { name: "dataSourceId", label: "Partner data source id", type: "number", required: true }]
  };
  var TYPE_NAMES = { ADS: "cookie", PUSH: "URL", S2S: "server-to-server" };

  function destinations(main) {
    main.appendChild(h("h1", { text: "Destinations" }));
    var typeSel = null;
    var mapBox = h("section", { class: "card hidden", "aria-label": "Mappings" });
    var c = crud({ kind: "destination", path: "destinations", idField: "destinationId", title: "Destinations", noun: "destination",
      defaults: { destinationType: "ADS", status: "active" },
      fields: function (row) {
        var type = row ? row.destinationType : (typeSel ? typeSel : "ADS");
        return [{ name: "name", label: "Name", required: true },
                { name: "destinationType", label: "Type", type: "select", options: [["ADS", "cookie (ADS)"], ["PUSH", "URL (PUSH)"], ["S2S", "server-to-server (S2S)"]] },
                { name: "status", label: "Status", type: "select", options: ["active", "paused"] }].concat(DEST_FIELDS[type] || []);
      },
      afterForm: function (f, row) {
        if (row) return;
        f.inputs.destinationType.addEventListener("change", function () {
          typeSel = f.inputs.destinationType.value;
          var btn = main.querySelector("button.secondary"); // "New destination": re-render with the type's fields
          if (btn) btn.click();
        });
        if (typeSel) f.inputs.destinationType.value = typeSel;
      },
      columns: [{ label: "id", cell: function (r) { return r.destinationId; } },
                { label: "name", cell: function (r) { return r.name; } },
                { label: "type", cell: function (r) { return TYPE_NAMES[r.destinationType] || r.destinationType; } },
                { label: "status", narrow: false, cell: function (r) { return r.status; } }],
      extra: function (row, out) {
        out.appendChild(h("button", { type: "button", class: "secondary", text: "Mappings", "aria-label": "Mappings of destination " + row.destinationId, onclick: function () {
          mapBox.className = "card"; mappings(row, mapBox); } }));
      } });
    main.appendChild(c.el);
    main.appendChild(mapBox);
  }

  function mappings(dest, box) {
    clear(box);
    var path = "destinations/" + dest.destinationId + "/mappings";
    box.appendChild(h("h2", { text: "Mappings of " + (TYPE_NAMES[dest.destinationType] || "") + " destination " + dest.destinationId + " (" + dest.name + ")" }));
    list(path).then(function (items) {
      box.appendChild(RT.table([{ label: "mapping", cell: function (m) { return m.mappingId; } },
                                { label: "segment", cell: function (m) { return m.sid; } },
                                { label: "value", cell: function (m) { return m.valueString || m.traitAlias || m.url || ""; } }],
        items, "No mappings."));
      var extra = dest.destinationType === "ADS" ? [{ name: "valueString", label: "Value", required: true }]
        : [{ name: "traitAlias", label: "Alias" }].concat(dest.destinationType === "PUSH" ? [{ name: "url", label: "URL" }] : []);
      var f = RT.form([{ name: "sid", label: "Segment id", type: "number", required: true }].concat(extra), {}, function (values) {
        return api("POST", path, values).then(function () { mappings(dest, box); });
      }, "Add mapping");
      box.appendChild(f.el);
    }).catch(function (err) { failure(box, err); });
  }

  // ---- 6. profiles ---------------------------------------------------------------------------
  function profiles(main) {
    main.appendChild(h("h1", { text: "Profiles" }));
    var out = h("div", { "aria-live": "polite" });
    var uuid = h("input", { type: "text", name: "uuid", "aria-label": "UUID", placeholder: "UUID (38 digits)", inputmode: "numeric" });
    var dpid = h("input", { type: "text", name: "dpid", "aria-label": "data source id (dpid)", placeholder: "dpid" });
    var dpuuid = h("input", { type: "text", name: "dpuuid", "aria-label": "declared id (dpuuid)", placeholder: "dpuuid" });
    function show(p) {
      clear(out);
      var traitRows = Object.keys(p.traits || {}).map(function (sid) { return { sid: sid, stamps: p.traits[sid], count: (p.traitCounts || {})[sid] }; });
      var del = h("button", { type: "button", class: "danger", text: "Delete profile" });
      var confirmBox = h("div", { class: "row hidden" },
        h("span", { class: "error", text: "Delete profile " + p.uuid + " and its ID links? This cannot be undone." }),
        h("button", { type: "button", class: "danger", text: "Yes, delete", onclick: function () {
          api("DELETE", "profiles/" + p.uuid).then(function () { clear(out); out.appendChild(h("p", { class: "ok", text: "Profile " + p.uuid + " deleted." })); })
            .catch(function (err) { failure(out, err); });
        } }),
        h("button", { type: "button", class: "secondary", text: "Cancel", onclick: function () { confirmBox.className = "row hidden"; } }));
      del.addEventListener("click", function () { confirmBox.className = "row"; });
      out.appendChild(h("div", { class: "card" },
        h("h2", { text: "Profile " + p.uuid }),
        p.optedOut ? h("p", { class: "warn", text: "Opted out" + (p.optedOutAt ? " at " + new Date(p.optedOutAt * 1000).toISOString() : "") }) : h("p", { text: "Not opted out. Last seen " + (p.lastSeen || "–") + ", expires " + (p.expiresAt || "–") + "." }),
        h("h2", { text: "Traits" }),
        RT.table([{ label: "trait", cell: function (r) { return r.sid; } },
                  { label: "realized at", cell: function (r) { return (r.stamps || []).join(", "); } },
                  { label: "count", cell: function (r) { return fmt(r.count); } }], traitRows, "No traits."),
        h("h2", { text: "Segments" }),
        h("p", { text: (p.segments || []).join(", ") || "none" }),
        h("h2", { text: "Synced IDs" }),
        RT.table([{ label: "data source", cell: function (r) { return r[0]; } }, { label: "id", cell: function (r) { return r[1]; } }],
          Object.keys(p.syncedIds || {}).map(function (k) { return [k, p.syncedIds[k]]; }), "No synced IDs."),
        h("div", { class: "row" },
          h("button", { type: "button", text: "Export (JSON)", onclick: function () { RT.download("profile-" + p.uuid + ".json", p); } }),
          del),
        confirmBox));
    }
    function lookup(ev) {
      ev.preventDefault();
      clear(out);
      var call = uuid.value.trim() ? api("GET", "profiles/" + encodeURIComponent(uuid.value.trim()))
        : api("GET", "profiles/by-id?dpid=" + encodeURIComponent(dpid.value.trim()) + "&dpuuid=" + encodeURIComponent(dpuuid.value.trim()));
      call.then(show).catch(function (err) { failure(out, err); });
    }
    main.appendChild(h("form", { class: "card", onsubmit: lookup },
      h("div", { class: "row" }, uuid, h("span", { class: "muted", text: "or" }), dpid, dpuuid, h("button", { type: "submit", text: "Look up" }))));
    main.appendChild(out);
  }

  // ---- 7. live events ------------------------------------------------------------------------
  function section(title, body) { return [h("h3", { text: title }), body]; }

  function eventDetails(e) {
    var prov = RT.table([{ label: "provider", cell: function (p) { return p.name + " (" + p.pid + ")"; } },
                         { label: "outcome", cell: function (p) { return h("span", { class: "badge " + (p.outcome === "answered" || p.outcome === "empty" || p.outcome === "cached" ? "good" : "bad"), text: p.outcome }); } },
                         { label: "ms", cell: function (p) { return p.ms; } },
                         { label: "segments returned", cell: function (p) { return (p.realized || []).join(", ") + (p.removed && p.removed.length ? " (removed " + p.removed.join(", ") + ")" : "") + (p.detail ? " " + p.detail : ""); } }],
                        e.providers || [], "No provider calls.");
    var time = new Date(e.at * 1000).toISOString().replace("T", " ").slice(0, 19);
    var segs = (e.segments || []).join(", ") || "none";
    return h("details", { class: "event" },
      h("summary", {}, time + " · uuid " + (e.uuid || "–") + " · segments " + segs + " · " + (e.providers || []).length + " provider call(s)" + ((e.errors || []).length ? " · errors " + e.errors.map(function (x) { return x.code; }).join(",") : "")),
      h("div", {},
        section("Signals", h("pre", { text: JSON.stringify(e.signals || {}, null, 1) })),
        section("Identity", h("pre", { text: JSON.stringify(e.identity || {}, null, 1) })),
        section("Privacy", h("pre", { text: JSON.stringify(e.privacy || {}, null, 1) })),
        section("Provider calls", prov),
        section("Traits realized", h("p", {}, "rule-based: " + ((e.traits && e.traits.ruleBased) || []).join(", ") + " · onboarded: " + ((e.traits && e.traits.onboarded) || []).join(", "))),
        section("Segments", h("p", { text: segs })),
        section("stuff", h("pre", { text: JSON.stringify(e.stuff || [], null, 1) })),
        section("dests", h("pre", { text: JSON.stringify(e.dests || [], null, 1) })),
        section("Errors", h("pre", { text: JSON.stringify(e.errors || [], null, 1) }))));
  }

  function live(main, ctx) {
    main.appendChild(h("h1", { text: "Live events" }));
    var state = h("p", { "aria-live": "polite" });
    var capUuid = h("input", { type: "text", name: "captureUuid", "aria-label": "capture UUID", placeholder: "UUID to capture" });
    var sample = h("input", { type: "number", name: "sample", "aria-label": "sample percent", placeholder: "or sample % (≤ 1)", step: "0.1", min: "0", max: "1" });
    var minutes = h("input", { type: "number", name: "minutes", "aria-label": "minutes", value: "15", min: "1", max: "60" });
    var capErr = h("span", { class: "error", role: "alert" });
    var filter = h("input", { type: "search", name: "filter", "aria-label": "filter by UUID", placeholder: "filter by UUID" });
    var events = h("div", { "aria-live": "polite" });
    function showState(s) {
      state.textContent = s.enabled ? "Capturing " + (s.uuid ? "UUID " + s.uuid : (s.sample * 100).toFixed(2) + " % of visitors") + " for " + Math.ceil(s.secondsLeft / 60) + " more minute(s)." : "Capture is off.";
    }
    function capture(body) {
      capErr.textContent = "";
      api("POST", "debug/capture", body).then(showState).catch(function (err) { capErr.textContent = errorText(err); });
    }
    main.appendChild(h("form", { class: "card", onsubmit: function (ev) {
      ev.preventDefault();
      var body = { minutes: Number(minutes.value || 15) };
      if (capUuid.value.trim()) body.uuid = capUuid.value.trim(); else if (sample.value) body.sample = Number(sample.value) / 100;
      capture(body);
    } }, h("h2", { text: "Capture" }), state,
      h("div", { class: "row" }, capUuid, sample, minutes, h("button", { type: "submit", text: "Start capture" }),
        h("button", { type: "button", class: "secondary", text: "Stop", onclick: function () { capture({ enabled: false }); } }), capErr),
      h("p", { class: "muted", text: "At most 60 minutes and 1 % of visitors; captured events are kept 24 h. Changes reach every container within the catalog refresh (≤ 10 s)." })));
    main.appendChild(h("div", { class: "row" }, filter, h("button", { type: "button", class: "secondary", text: "Refresh", onclick: function () { load(); } })));
    main.appendChild(events);
    function load() {
      var q = filter.value.trim();
      return api("GET", "debug/events?limit=50" + (q ? "&uuid=" + encodeURIComponent(q) : "")).then(function (r) {
        var open = {};
        events.querySelectorAll("details[open]").forEach(function (d) { open[d.dataset.key] = true; });
        clear(events);
        if (!r.events.length) events.appendChild(h("p", { class: "muted", text: "No captured events yet." }));
        r.events.forEach(function (e) {
          var d = eventDetails(e);
          d.dataset.key = e.tid + ":" + e.at;
          if (open[d.dataset.key]) d.open = true;
          events.appendChild(d);
        });
      }).catch(function (err) { clear(events); failure(events, err); });
    }
    filter.addEventListener("input", RT.debounce(load, 300));
    api("GET", "debug/capture").then(showState).catch(function (err) { capErr.textContent = errorText(err); });
    load();
    ctx.every(3000, load);
  }

  window.PAGES = [
    { id: "overview", title: "Overview", render: overview },
    { id: "providers", title: "Providers", render: providers },
    { id: "traits", title: "Traits", render: traits },
    { id: "segments", title: "Segments", render: segments },
    { id: "destinations", title: "Destinations", render: destinations },
    { id: "profiles", title: "Profiles", render: profiles },
    { id: "live", title: "Live events", render: live }
  ];
})();
