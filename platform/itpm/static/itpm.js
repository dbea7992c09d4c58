/* itpm's page scripts. Pages carry no inline handlers (the Content-Security-Policy refuses them):
   behaviour is bound here. */

/* A form with data-confirm asks before it is sent (deleting a record, purging data). */
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); }
  }, true);
})();

/* List filters on references: a type-ahead picker, initialised when FAB's filter row adds it. */
(function () {
  "use strict";
  function initPicker(select) {
    if (select.getAttribute("data-ready") || !window.jQuery || !window.jQuery.fn.select2) { return; }
    select.setAttribute("data-ready", "1");
    var $ = window.jQuery, picker = $(select), lookup = select.getAttribute("data-lookup");
    picker.select2({
      width: "100%", allowClear: true, placeholder: "",
      ajax: {url: lookup, dataType: "json", delay: 200, data: function (p) { return {q: p.term || ""}; },
             processResults: function (data) { return {results: data.results}; }}
    });
    var current = new URLSearchParams(window.location.search).get(select.name);
    if (current) {
      $.getJSON(lookup, {ids: current}, function (data) {
        (data.results || []).forEach(function (r) { picker.append(new Option(r.text, r.id, true, true)); });
        picker.trigger("change");
      });
    }
  }
  function scan(root) {
    Array.prototype.forEach.call(root.querySelectorAll("select.itpm-filter-picker"), function (s) {
      if (document.body.contains(s) && s.closest(".filters")) { initPicker(s); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    scan(document);
    new MutationObserver(function () { scan(document); }).observe(document.body, {childList: true, subtree: true});
  });
})();

/* A list's filters in a drawer on a phone: the Filters button opens it, the cross or the shade closes it. */
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var drawer = document.getElementById("itpm-filters");
    if (!drawer || !e.target.closest) { return; }
    var opener = e.target.closest(".itpm-drawer-open");
    if (opener) {
      drawer.classList.add("itpm-open");
      document.body.classList.add("itpm-drawer-shown");
      opener.setAttribute("aria-expanded", "true");
      var first = drawer.querySelector("select, input, button");
      if (first) { first.focus(); }
    } else if (e.target.closest(".itpm-drawer-close") || e.target.classList.contains("itpm-drawer-backdrop")) {
      drawer.classList.remove("itpm-open");
      document.body.classList.remove("itpm-drawer-shown");
      document.querySelectorAll(".itpm-drawer-open").forEach(function (b) { b.setAttribute("aria-expanded", "false"); });
    }
  });
})();

/* The navigation bar's counts of my work (approvals waiting, overdue items), asked for once the page
   is shown: the page does not wait for them, and the browser keeps them half a minute. */
(function () {
  "use strict";
  function fill(item, data) {
    [["approvals", ".itpm-approvals-count"], ["overdue", ".itpm-overdue-count"]].forEach(function (pair) {
      var badge = item.querySelector(pair[1]), n = Number(data[pair[0]] || 0);
      if (!badge) { return; }
      badge.textContent = n ? String(n) : "";
      badge.title = n ? (item.getAttribute("data-" + pair[0] + "-title") || "").replace("{n}", String(n)) : "";
      badge.hidden = !n;
    });
    item.setAttribute("data-filled", "1");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var item = document.querySelector(".itpm-work-counts[data-counts]");
    if (!item || !window.fetch) { return; }
    window.fetch(item.getAttribute("data-counts"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { fill(item, data); } })
      .catch(function () { /* no counts this time: the badges stay hidden */ });
  });
})();
