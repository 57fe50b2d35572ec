// rtdcs console: the token, the navigation and the page timers.
"use strict";
(function () {
  var RT = window.RT, h = RT.h, clear = RT.clear;
  var main = document.getElementById("main");
  var nav = document.getElementById("nav");
  var signout = document.getElementById("signout");
  var timers = [];

  function stopTimers() { timers.forEach(clearInterval); timers = []; }

  function login(message) {
    stopTimers();
    clear(nav);
    signout.hidden = true;
    clear(main);
    var input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", "aria-label": "admin token" });
    var err = h("p", { class: "error", role: "alert", text: message || "" });
    main.appendChild(h("form", { class: "card", onsubmit: function (ev) {
      ev.preventDefault();
      RT.token.set(input.value.trim());
      RT.api("GET", "settings").then(function () { route(); }).catch(function (e) {
        RT.token.clear();
        err.textContent = e.status === 401 ? "That token was refused." : e.message;
      });
    } }, h("h1", { text: "Sign in" }),
      h("p", { text: "Paste the admin token (RTDCS_ADMIN_TOKEN locally). It stays in this tab only (sessionStorage)." }),
      h("div", { class: "row" }, input, h("button", { type: "submit", text: "Use token" })), err));
    input.focus();
  }

  function current() {
    var id = (location.hash || "").replace(/^#\/?/, "") || "overview";
    return window.PAGES.filter(function (p) { return p.id === id; })[0] || window.PAGES[0];
  }

  function route() {
    if (!RT.token.get()) { login(); return; }
    stopTimers();
    var page = current();
    clear(nav);
    window.PAGES.forEach(function (p) {
      nav.appendChild(h("a", { href: "#/" + p.id, "aria-current": p.id === page.id ? "page" : null, text: p.title }));
    });
    signout.hidden = false;
    clear(main);
    document.title = page.title + " · rtdcs console";
    page.render(main, { every: function (ms, fn) { timers.push(setInterval(fn, ms)); } });
  }

  signout.addEventListener("click", function () { RT.token.clear(); login("Token forgotten."); });
  window.addEventListener("hashchange", route);
  window.addEventListener("unhandledrejection", function (ev) {
    var e = ev.reason;
    if (e && e.status === 401) { ev.preventDefault(); RT.token.clear(); login("The token was refused; paste it again."); }
  });
  route();
})();
