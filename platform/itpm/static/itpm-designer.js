/* The visual designers' common part: the Designer and JSON tabs over one definition, saving a
   draft, problems shown by JSON path (and at their lines in the JSON editor), small DOM helpers.
   Each kind's designer (itpm-designer-<kind>.js) registers itself as ItpmDesigner.render. */
(function () {
  "use strict";
  var root = document.getElementById("itpm-designer");
  if (!root) { return; }
  var start = JSON.parse(document.getElementById("itpm-designer-start").textContent);
  var D = window.ItpmDesigner = {
    kind: root.getAttribute("data-kind"),
    name: root.getAttribute("data-name"),
    model: start.model,
    context: start.context,
    lang: start.context.language,
    pane: document.getElementById("itpm-designer-pane"),
    render: null
  };

  /* A text in the page's language: t("Add field", "添加字段") or t({en:..., zh:...}). */
  D.t = function (en, zh) {
    if (en && typeof en === "object") { return (D.lang === "zh" ? en.zh || en.en : en.en || en.zh) || ""; }
    return D.lang === "zh" ? zh : en;
  };
  /* h("div", {className: "x", onclick: fn}, [children]) */
  D.h = function (tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (key.slice(0, 2) === "on") { node.addEventListener(key.slice(2), value); }
      else if (key === "dataset") { Object.keys(value).forEach(function (k) { node.setAttribute("data-" + k, value[k]); }); }
      else if (key === "type" && node.tagName !== "INPUT" && node.tagName !== "BUTTON") { return; }  /* a textarea's type is read-only */
      else if (key in node && key !== "list") { node[key] = value; }
      else if (value !== undefined && value !== null && value !== false) { node.setAttribute(key, value); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  };
  /* A labelled input bound to obj[key] (an empty input removes the key). */
  D.input = function (label, obj, key, opts) {
    opts = opts || {};
    var value = obj[key];
    var input = D.h(opts.multiline ? "textarea" : "input", {
      className: "form-control input-sm", type: opts.type || "text",
      value: value === undefined || value === null ? "" : String(value),
      placeholder: opts.placeholder || "", name: opts.name || key,
      oninput: function () {
        var raw = input.value;
        if (raw === "") { delete obj[key]; }
        else { obj[key] = opts.type === "number" ? Number(raw) : raw; }
        if (opts.change) { opts.change(raw); }
      }
    });
    return D.h("label", {className: "itpm-d-input"}, [D.h("span", {}, [label]), input]);
  };
  D.select = function (label, options, value, change, name) {
    var select = D.h("select", {className: "form-control input-sm", name: name || ""},
      options.map(function (o) { return D.h("option", {value: o[0], selected: String(o[0]) === String(value)}, [o[1]]); }));
    select.addEventListener("change", function () { change(select.value); });
    return label ? D.h("label", {className: "itpm-d-input"}, [D.h("span", {}, [label]), select]) : select;
  };
  D.check = function (label, checked, change, name) {
    var box = D.h("input", {type: "checkbox", checked: !!checked, name: name || "",
      onchange: function () { change(box.checked); }});
    return D.h("label", {className: "checkbox-inline itpm-d-check"}, [box, " " + label]);
  };
  D.button = function (label, click, className, icon) {
    return D.h("button", {type: "button", className: "btn btn-sm " + (className || "btn-default"), onclick: click},
      [icon ? D.h("i", {className: "fa " + icon}) : null, " " + label]);
  };
  D.titleInputs = function (obj, key, label) {
    obj[key] = obj[key] || {};
    return D.h("div", {className: "itpm-d-row"}, [
      D.input((label || D.t("Title", "标题")) + " (English)", obj[key], "en", {name: key + "-en"}),
      D.input((label || D.t("Title", "标题")) + " (中文)", obj[key], "zh", {name: key + "-zh"})
    ]);
  };

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  D.post = function (url, payload) {
    if (payload.model && D.tidy) { D.tidy(payload.model); }  /* e.g. a help text left empty is no help */
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify(payload)}).then(function (r) { return r.json(); });
  };

  var problemsBox = document.getElementById("itpm-designer-problems");
  D.showProblems = function (problems, warnings, okText) {
    problemsBox.innerHTML = "";
    [[problems || [], "alert-danger", D.t("Problems:", "问题:")], [warnings || [], "alert-warning", D.t("Warnings:", "警告:")]]
      .forEach(function (group) {
        if (!group[0].length) { return; }
        problemsBox.appendChild(D.h("div", {className: "alert " + group[1]}, [D.h("strong", {}, [group[2]]),
          D.h("ul", {}, group[0].map(function (p) { return D.h("li", {}, [D.h("code", {}, [p.path || "/"]), " " + p.message]); }))]));
      });
    if (okText && !(problems || []).length && !(warnings || []).length) {
      problemsBox.appendChild(D.h("div", {className: "alert alert-success"}, [okText]));
    }
  };

  /* The JSON tab: CodeMirror with line numbers, lint marks at the lines of the problems (itpm-json-editor.js). */
  var editor = window.ItpmJson.editor(document.getElementById("itpm-json-text"), root.getAttribute("data-validate-url"));
  editor.setValue(start.text);
  D.editor = editor;

  var tabs = {designer: document.getElementById("itpm-tab-designer"), json: document.getElementById("itpm-tab-json")};
  var panes = {designer: D.pane, json: document.getElementById("itpm-json-pane")};
  D.active = "designer";
  function show(which) {
    Object.keys(tabs).forEach(function (k) {
      tabs[k].parentNode.classList.toggle("active", k === which);
      panes[k].classList.toggle("hidden", k !== which);
    });
    D.active = which;
    if (which === "json") { editor.refresh(); }
  }
  tabs.json.addEventListener("click", function (e) {
    e.preventDefault();
    if (D.active === "json") { return; }
    D.post(root.getAttribute("data-convert-url"), {model: D.model}).then(function (answer) {
      if (answer.text) { editor.setValue(answer.text); }
      D.showProblems(answer.problems);
      show("json");
    });
  });
  tabs.designer.addEventListener("click", function (e) {
    e.preventDefault();
    if (D.active === "designer") { return; }
    D.post(root.getAttribute("data-convert-url"), {text: editor.getValue()}).then(function (answer) {
      if (!answer.model) { D.showProblems(answer.problems); return; }  /* unreadable JSON: stay here */
      D.model = answer.model;
      D.showProblems(answer.problems);
      D.rerender();
      show("designer");
    });
  });
  D.rerender = function () { D.pane.innerHTML = ""; if (D.render) { D.render(D.pane); } };

  document.getElementById("itpm-designer-save").addEventListener("click", function () {
    var payload = D.active === "json" ? {text: editor.getValue()} : {model: D.model};
    D.post(root.getAttribute("data-save-url"), payload).then(function (answer) {
      if (answer.problems) { D.showProblems(answer.problems); return; }
      D.model = answer.model;
      editor.setValue(answer.text);
      var publish = document.getElementById("itpm-designer-publish");
      publish.href = answer.publish_url;
      publish.classList.remove("hidden");
      D.showProblems([], [], D.t("Draft saved. Publish it to make it live.", "草稿已保存。发布后生效。"));
      if (D.active === "designer") { D.rerender(); }
    });
  });
  window.addEventListener("load", function () { D.rerender(); });
})();
