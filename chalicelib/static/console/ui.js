// rtdcs console: DOM, API and form helpers (no framework; docs/console.md says why).
"use strict";
(function () {
  var TOKEN_KEY = "rtdcs.console.token";

  function h(tag, attrs) {
    var el = document.createElement(tag);
    var a = attrs || {};
    Object.keys(a).forEach(function (k) {
      var v = a[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    });
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  var token = {
    get: function () { return sessionStorage.getItem(TOKEN_KEY) || ""; },
    set: function (v) { sessionStorage.setItem(TOKEN_KEY, v); },
    clear: function () { sessionStorage.removeItem(TOKEN_KEY); }
  };

  function ApiError(status, body) {
    var e = (body && body.error) || {};
    this.status = status;
    this.code = e.code || "http_" + status;
    this.message = e.message || "request failed (" + status + ")";
    this.field = e.field;
    this.position = e.position;
    this.body = body;
  }

  // The API's base: "v1/" next to the console's page (works under a stage prefix too).
  function api(method, path, body) {
    var headers = { "Authorization": "Bearer " + token.get() };
    var init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch("v1/" + path, init).then(function (r) {
      if (r.status === 204) return null;
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!r.ok) throw new ApiError(r.status, data);
        return data;
      });
    });
  }

  function toast(text) {
    var el = h("div", { class: "toast", role: "status", text: text });
    document.body.appendChild(el);
    setTimeout(function () { el.remove(); }, 3000);
  }

  function table(columns, rows, empty) {
    if (!rows.length) return h("p", { class: "muted", text: empty || "Nothing here yet." });
    return h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, columns.map(function (c) {
        return h("th", { class: c.narrow === false ? "hide-narrow" : null, scope: "col", text: c.label });
      }))),
      h("tbody", {}, rows.map(function (row) {
        return h("tr", {}, columns.map(function (c) {
          var v = c.cell(row);
          return h("td", { class: c.narrow === false ? "hide-narrow" : null }, v === undefined ? "" : v);
        }));
      }))));
  }

  // A form from field specs: {name, label, type: text|number|select|textarea|list|bool, options,
  // required, help}. Values in and out in API terms; API errors shown next to their field.
  function form(fields, values, onSubmit, submitLabel) {
    var inputs = {};
    var errors = {};
    var general = h("div", { class: "field-error full", role: "alert" });
    var el = h("form", { class: "edit", novalidate: true });
    fields.forEach(function (f) {
      var id = "f-" + f.name.replace(/\W/g, "-");
      var v = values && values[f.name];
      var input;
      if (f.type === "select") {
        input = h("select", { id: id, name: f.name }, f.options.map(function (o) {
          var value = Array.isArray(o) ? o[0] : o;
          return h("option", { value: value, selected: String(v) === String(value), text: Array.isArray(o) ? o[1] : o });
        }));
      } else if (f.type === "textarea") {
        input = h("textarea", { id: id, name: f.name, rows: 3, spellcheck: "false" });
        input.value = v === undefined || v === null ? "" : (typeof v === "object" ? JSON.stringify(v, null, 2) : v);
      } else if (f.type === "bool") {
        input = h("select", { id: id, name: f.name },
          h("option", { value: "false", selected: v !== true, text: "no" }),
          h("option", { value: "true", selected: v === true, text: "yes" }));
      } else {
        input = h("input", { id: id, name: f.name, type: f.type === "number" ? "number" : "text",
                             autocomplete: "off", placeholder: f.placeholder || null });
        input.value = v === undefined || v === null ? "" : (f.type === "list" ? v.join(", ") : v);
      }
      inputs[f.name] = input;
      errors[f.name] = h("div", { class: "field-error", id: id + "-error", "aria-live": "polite" });
      input.setAttribute("aria-describedby", id + "-error");
      el.appendChild(h("label", { for: id, text: f.label + (f.required ? " *" : "") }));
      el.appendChild(h("div", {}, input, f.help ? h("div", { class: "muted", text: f.help }) : null,
                       f.after ? f.after(input) : null, errors[f.name]));
    });
    el.appendChild(general);
    var button = h("button", { type: "submit", text: submitLabel || "Save" });
    el.appendChild(h("div", { class: "full row" }, button));
    function read() {
      var out = {};
      fields.forEach(function (f) {
        if (f.readOnly) return;
        var raw = inputs[f.name].value;
        if (f.type === "number") { if (raw.trim() !== "") out[f.name] = Number(raw); }
        else if (f.type === "list") { out[f.name] = raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
        else if (f.type === "bool") out[f.name] = raw === "true";
        else if (f.json) { if (raw.trim()) { try { out[f.name] = JSON.parse(raw); } catch (e) { out[f.name] = raw; } } }
        else if (raw.trim() !== "" || f.required) out[f.name] = raw;
      });
      return out;
    }
    function showError(err) {
      Object.keys(errors).forEach(function (k) { clear(errors[k]); });
      clear(general);
      if (!err) return;
      var top = err.field ? err.field.split(/[.\[]/)[0] : null;
      var target = top && errors[top] ? errors[top] : general;
      target.textContent = err.message + (err.position !== undefined && err.position !== null ? " (at position " + err.position + ")" : "") +
        (err.code ? " [" + err.code + "]" : "");
    }
    el.addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError(null);
      button.disabled = true;
      Promise.resolve(onSubmit(read())).catch(function (err) {
        showError(err instanceof ApiError ? err : { message: String(err) });
      }).then(function () { button.disabled = false; });
    });
    return { el: el, inputs: inputs, showError: showError, read: read };
  }

  function download(name, data) {
    var blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
    var url = URL.createObjectURL(blob);
    var a = h("a", { href: url, download: name, class: "hidden" });
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
  }

  function fmt(n) {
    if (n === null || n === undefined) return "–";
    return typeof n === "number" ? n.toLocaleString("en-US") : String(n);
  }

  function debounce(fn, ms) {
    var t = null;
    return function () {
      var args = arguments;
      clearTimeout(t);
      t = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  window.RT = { h: h, clear: clear, api: api, ApiError: ApiError, token: token, toast: toast,
                table: table, form: form, download: download, fmt: fmt, debounce: debounce };
})();
