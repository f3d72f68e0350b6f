// proxctl dashboard: the little the pages need beyond HTML. Times in the reader's zone, a
// select-all box, a theme switch. Everything works without it; htmx adds live parts.
(function () {
  "use strict";
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        if (!t.title) t.title = t.textContent;
        t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }
  function theme(next) {
    if (next) localStorage.setItem("proxctl-theme", next);
    var t = localStorage.getItem("proxctl-theme");
    if (t) document.documentElement.dataset.theme = t;
  }
  theme();
  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[name=" + box.dataset.selectAll + "]").forEach(function (c) {
          c.checked = box.checked;
        });
      });
    });
    // Parts marked data-events refresh when the server's event stream (the API's, with this
    // session) reports a PVE task or an operation.
    if (document.querySelector("[data-events]") && window.EventSource) {
      var es = new EventSource("/events");
      ["task", "operation"].forEach(function (kind) {
        es.addEventListener(kind, function () {
          if (window.htmx) window.htmx.trigger(document.body, "proxctl-event");
        });
      });
    }
    document.querySelectorAll("[data-needs-script]").forEach(function (el) { el.hidden = false; });
    document.querySelectorAll("[data-load-into]").forEach(function (input) {
      input.addEventListener("change", function () {
        var f = input.files && input.files[0];
        if (f) f.text().then(function (t) { document.getElementById(input.dataset.loadInto).value = t; });
      });
    });
    document.querySelectorAll("[data-theme-toggle]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var dark = document.documentElement.dataset.theme === "dark" ||
          (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
        theme(dark ? "light" : "dark");
      });
    });
  });
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
