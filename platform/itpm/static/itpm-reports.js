/* A report's page: while a requested PDF is queued or rendering, the list of requests (and the kept
   PDFs) is fetched again every few seconds, until none is pending. */
(function () {
  "use strict";
  var PERIOD = 2000;
  function refresh() {
    var box = document.getElementById("itpm-report-activity");
    var url = box && box.getAttribute("data-refresh");
    if (!url) { return; }
    fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "XMLHttpRequest"}})
      .then(function (response) {
        // a session that ended answers with the login page: leave the list as it is
        if (!response.ok || response.redirected) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        if (html.indexOf('id="itpm-report-activity"') === -1) { throw new Error("not the list"); }
        box.outerHTML = html;
        window.setTimeout(refresh, PERIOD);
      })
      .catch(function () { window.setTimeout(refresh, PERIOD * 5); });
  }
  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(refresh, PERIOD); });
})();
