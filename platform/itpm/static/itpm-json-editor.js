/* The JSON editor of definitions (the definition's Edit page and the designers' JSON tab):
   the vendored CodeMirror with line numbers, each problem the server finds marked at the line of
   its JSON path (an unreadable text at the line where reading stopped). */
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* The line (0-based) of the value at a JSON pointer in a JSON text, found by scanning it. */
  function pointerLine(text, pointer) {
    var want = pointer.split("/").slice(1).map(function (p) { return p.replace(/~1/g, "/").replace(/~0/g, "~"); });
    var i = 0, line = 0, path = [], found = 0;
    function ws() { while (i < text.length && /\s/.test(text[i])) { if (text[i] === "\n") { line++; } i++; } }
    function str() { var s = i + 1; i++; while (i < text.length && text[i] !== '"') { if (text[i] === "\\") { i++; } i++; } i++; return JSON.parse(text.slice(s - 1, i)); }
    function value() {
      ws();
      if (path.length <= want.length && path.join("/") === want.slice(0, path.length).join("/")) { found = line; }
      var c = text[i];
      if (c === "{") { i++; ws(); if (text[i] === "}") { i++; return; }
        for (;;) { ws(); var key = str(); ws(); i++; path.push(key); value(); path.pop(); ws(); if (text[i] === ",") { i++; continue; } i++; return; } }
      if (c === "[") { i++; ws(); if (text[i] === "]") { i++; return; } var n = 0;
        for (;;) { path.push(String(n++)); value(); path.pop(); ws(); if (text[i] === ",") { i++; continue; } i++; return; } }
      if (c === '"') { str(); return; }
      while (i < text.length && /[^,\]\}\s]/.test(text[i])) { i++; }
    }
    try { value(); } catch (e) { return 0; }
    return found;
  }

  /* Where JSON.parse stopped reading, as a line (browsers say "position N" or "line L column C"). */
  function parseErrorLine(text, message) {
    var at = /position (\d+)/.exec(message);
    if (at) { return text.slice(0, Number(at[1])).split("\n").length - 1; }
    var line = /line (\d+)/.exec(message);
    return line ? Number(line[1]) - 1 : 0;
  }

  function mark(line, message) {
    return {from: window.CodeMirror.Pos(line, 0), to: window.CodeMirror.Pos(line, 200), message: message, severity: "error"};
  }

  /* A CodeMirror lint source: the text's problems as the validate URL says them, at their lines.
     `after(problems, marks)` is told them too (to list them beside the editor). */
  function linter(validateUrl, after) {
    return {async: true, getAnnotations: function (text, done) {
      try { JSON.parse(text); } catch (e) {
        var marks = [mark(parseErrorLine(text, e.message), e.message)];
        done(marks);
        if (after) { after([{path: "", message: e.message}], marks); }
        return;
      }
      fetch(validateUrl, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
        body: JSON.stringify({text: text})}).then(function (r) { return r.json(); }).then(function (answer) {
        var problems = answer.problems || [];
        var marks = problems.map(function (p) { return mark(pointerLine(text, p.path || ""), (p.path || "/") + " " + p.message); });
        done(marks);
        if (after) { after(problems, marks); }
      });
    }};
  }

  /* CodeMirror over a textarea (the form still posts the textarea: CodeMirror writes it back on submit). */
  function editor(textarea, validateUrl, after) {
    return window.CodeMirror.fromTextArea(textarea, {
      mode: {name: "javascript", json: true}, lineNumbers: true, matchBrackets: true, indentUnit: 2,
      extraKeys: {Tab: function (cm) { cm.replaceSelection("  "); }},
      gutters: ["CodeMirror-lint-markers"], lint: linter(validateUrl, after)
    });
  }

  window.ItpmJson = {pointerLine: pointerLine, linter: linter, editor: editor};

  /* The definition's Edit page: Validate lists the problems and marks them at their lines. */
  document.addEventListener("DOMContentLoaded", function () {
    var textarea = document.getElementById("itpm-definition-body");
    var button = document.getElementById("itpm-validate");
    var list = document.getElementById("itpm-problems");
    if (!textarea || !button || !list || !window.CodeMirror) { return; }
    function show(problems) {
      list.innerHTML = "";
      var box = document.createElement("div");
      if (!problems.length) {
        box.className = "alert alert-success";
        box.textContent = button.getAttribute("data-ok");
      } else {
        box.className = "alert alert-danger";
        var ul = document.createElement("ul");
        problems.forEach(function (p) {
          var li = document.createElement("li"), code = document.createElement("code");
          code.textContent = p.path;
          li.appendChild(code);
          li.appendChild(document.createTextNode(" " + p.message));
          ul.appendChild(li);
        });
        box.appendChild(ul);
      }
      list.appendChild(box);
    }
    var listing = false;  /* Validate was pressed: list the problems of the lint it started */
    var cm = editor(textarea, button.getAttribute("data-url"), function (problems, marks) {
      if (!listing) { return; }
      listing = false;
      show(problems);
      if (marks.length) { cm.scrollIntoView(marks[0].from, 80); }  /* the first problem's line is in sight */
    });
    cm.setSize(null, "60vh");
    window.ItpmJson.current = cm;
    button.addEventListener("click", function (e) {
      e.preventDefault();
      listing = true;
      cm.save();
      cm.performLint();
    });
  });
})();
