/* The record type designer: the type's settings (titles, numbering with a live example, pilot
   departments) and its fields as a list with plain type names (the model of
   itpm.designers.record_types). Renaming a published field writes the engine's rename
   (x-renamed-from), so its data is carried over on publish. */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var TYPES = [
    ["text", "Text", "文本"], ["long_text", "Long text", "长文本"], ["rich_text", "Rich text", "富文本"],
    ["number", "Number", "数字"], ["whole_number", "Whole number", "整数"], ["money", "Money", "金额"],
    ["date", "Date", "日期"], ["datetime", "Date and time", "日期时间"], ["choice", "Choice", "单选"],
    ["multiple_choice", "Multiple choice", "多选"], ["yes_no", "Yes/no", "是/否"], ["person", "Person", "人员"],
    ["people", "People", "多个人员"], ["reference", "Reference to a record", "关联记录"],
    ["references", "References to records", "多个关联记录"], ["file", "File", "文件"], ["files", "Files", "多个文件"],
    ["table", "Table of rows", "表格"]
  ];
  var FLAGS = [["columns", "In the list", "列表显示"], ["filters", "Filterable", "可筛选"],
    ["search", "Searchable", "可搜索"], ["indexed", "Indexed", "建索引"]];

  /* What a numbering pattern gives today for the first record. */
  function numberExample(pattern) {
    var now = new Date();
    var month = String(now.getMonth() + 1);
    return (pattern || "").replace(/\{YYYY\}/g, String(now.getFullYear())).replace(/\{YY\}/g, String(now.getFullYear()).slice(2))
      .replace(/\{MM\}/g, month.length < 2 ? "0" + month : month)
      .replace(/\{seq(?::0(\d))?\}/g, function (_m, width) { var s = "1"; while (s.length < Number(width || 1)) { s = "0" + s; } return s; });
  }

  function retype(field, type) {
    field.type = type;
    ["options", "value_type", "ref", "columns", "items_json"].forEach(function (k) { delete field[k]; });
    field.limits = field.limits || {};
    if (["text", "long_text", "rich_text"].indexOf(type) < 0) { ["minLength", "maxLength", "pattern"].forEach(function (k) { delete field.limits[k]; }); }
    if (["number", "whole_number", "money"].indexOf(type) < 0) { ["minimum", "maximum"].forEach(function (k) { delete field.limits[k]; }); }
    if (["multiple_choice", "people", "references", "files", "table"].indexOf(type) < 0) { ["minItems", "maxItems"].forEach(function (k) { delete field.limits[k]; }); }
    delete field["default"];
    if (type === "text" && !field.limits.maxLength) { field.limits.maxLength = 200; }
    if (type === "long_text" && field.limits.maxLength && field.limits.maxLength <= 300) { delete field.limits.maxLength; }
    if (type === "choice" || type === "multiple_choice") { field.options = []; field.value_type = "string"; }
    if (type === "reference" || type === "references") { field.ref = Object.keys(D.context.record_types)[0]; }
    if (type === "table") { field.columns = [{name: "item", type: "text", title: {en: "Item", zh: "项目"}, help: {}, limits: {maxLength: 200}, json: {}}]; }
  }

  function listToggle(settings, list, name, on) {
    var values = (settings[list] || []).filter(function (v) { return v !== name; });
    if (on) { values.push(name); }
    if (values.length) { settings[list] = values; } else { delete settings[list]; }
  }

  function optionsEditor(field, changed) {
    var box = D.h("div", {className: "itpm-d-options"});
    box.addEventListener("input", changed);
    function draw() {
      box.innerHTML = "";
      box.appendChild(D.h("strong", {}, [D.t("Choices", "选项")]));
      field.options.forEach(function (option, index) {
        box.appendChild(D.h("div", {className: "itpm-d-row itpm-d-option"}, [
          D.input(D.t("Value", "值"), option, "value", {name: "option-value"}),
          D.input("English", option, "en", {name: "option-en"}),
          D.input("中文", option, "zh", {name: "option-zh"}),
          D.button("", function () { field.options.splice(index, 1); draw(); changed(); }, "btn-link", "fa-times")
        ]));
      });
      box.appendChild(D.button(D.t("Add choice", "添加选项"), function () {
        field.options.push({value: "", en: "", zh: ""}); draw();
      }, "btn-default itpm-d-add-option", "fa-plus"));
    }
    draw();
    return box;
  }

  var NUMERIC = ["number", "whole_number", "money"], TEXTS = ["text", "long_text", "rich_text"],
    LISTS = ["multiple_choice", "people", "references", "files", "table"];

  /* The default, typed as the field's values are: a number, yes or no, one of its choices, a date. */
  function defaultInput(field) {
    var label = D.t("Default", "默认值");
    function set(v) { if (v === "") { delete field["default"]; } else { field["default"] = v; } }
    if (field.type === "yes_no") {
      return D.select(label, [["", "—"], ["true", D.t("yes", "是")], ["false", D.t("no", "否")]],
        field["default"] === undefined ? "" : String(field["default"]), function (v) { set(v === "" ? "" : v === "true"); }, "default");
    }
    if (field.type === "choice") {
      return D.select(label, [["", "—"]].concat((field.options || []).map(function (o) { return [o.value, D.t(o.en || String(o.value), o.zh || String(o.value))]; })),
        field["default"] === undefined ? "" : field["default"], function (v) {
          set(v === "" ? "" : field.value_type === "integer" || field.value_type === "number" ? Number(v) : v);
        }, "default");
    }
    if (NUMERIC.concat(TEXTS).concat(["date", "datetime"]).indexOf(field.type) < 0) { return null; }  /* people, files, lists...: none */
    return D.input(label, field, "default", {name: "default",
      type: NUMERIC.indexOf(field.type) >= 0 ? "number" : field.type === "date" ? "date" : "text"});
  }

  /* The limits the field's type has: numbers' range, texts' lengths and pattern, lists' sizes. */
  function limitInputs(field, limits) {
    var n = {type: "number"};
    if (NUMERIC.indexOf(field.type) >= 0) {
      return [D.input(D.t("Minimum", "最小值"), limits, "minimum", n), D.input(D.t("Maximum", "最大值"), limits, "maximum", n)];
    }
    if (TEXTS.indexOf(field.type) >= 0) {
      return [D.input(D.t("Shortest", "最小长度"), limits, "minLength", {type: "number", name: "minLength"}),
        D.input(D.t("Longest", "最大长度"), limits, "maxLength", {type: "number", name: "maxLength"}),
        D.input(D.t("Pattern (regular expression)", "格式(正则表达式)"), limits, "pattern", {name: "pattern", placeholder: "^[A-Z]{2}[0-9]+$"})];
    }
    if (LISTS.indexOf(field.type) >= 0) {
      return [D.input(D.t("At least (items)", "至少(项)"), limits, "minItems", {type: "number", name: "minItems"}),
        D.input(D.t("At most (items)", "至多(项)"), limits, "maxItems", {type: "number", name: "maxItems"})];
    }
    return [];
  }

  function details(field, model) {
    var settings = model.settings;
    var limits = field.limits = field.limits || {};
    var defaultBox = D.h("span", {className: "itpm-d-default"}, [defaultInput(field)]);
    function choicesChanged() {  /* the default is picked among the choices as they now are */
      if (field["default"] !== undefined && !(field.options || []).some(function (o) { return o.value === field["default"]; })) { delete field["default"]; }
      defaultBox.innerHTML = "";
      var input = defaultInput(field);
      if (input) { defaultBox.appendChild(input); }
    }
    var parts = [
      D.titleInputs(field, "help", D.t("Help", "帮助")),
      D.h("div", {className: "itpm-d-row"}, [defaultBox].concat(limitInputs(field, limits))),
      D.h("div", {}, FLAGS.map(function (flag) {
        return D.check(D.t(flag[1], flag[2]), (settings[flag[0]] || []).indexOf(field.name) >= 0, function (on) {
          listToggle(settings, flag[0], field.name, on);
        }, "flag-" + flag[0]);
      }).concat([
        /* x-personal: sealed in the audit log under its subject's key, pseudonymised on erasure */
        D.check(D.t("Personal data", "个人数据"), !!(field.json || {})["x-personal"], function (on) {
          field.json = field.json || {};
          if (on) { field.json["x-personal"] = true; } else { delete field.json["x-personal"]; }
        }, "personal")
      ]))
    ];
    if (field.type === "choice" || field.type === "multiple_choice") { parts.push(optionsEditor(field, choicesChanged)); }
    if (field.type === "reference" || field.type === "references") {
      parts.push(D.select(D.t("Refers to", "关联到"), Object.keys(D.context.record_types).map(function (n) {
        return [n, D.t(D.context.record_types[n].title) || n];
      }), field.ref, function (v) { field.ref = v; }, "ref"));
    }
    return D.h("div", {className: "itpm-d-details"}, parts);
  }

  /* A field's new name, also in the lists naming it; a published field keeps its data (x-renamed-from). */
  function rename(field, name, model) {
    var old = field.name;
    if (!field.renamed_from && (D.context.published_fields || []).indexOf(old) >= 0) { field.renamed_from = old; }
    field.name = name;
    FLAGS.concat([["required"]]).forEach(function (flag) {
      var holder = flag[0] === "required" ? model.schema_json : model.settings;
      if ((holder[flag[0]] || []).indexOf(old) >= 0) { holder[flag[0]] = holder[flag[0]].map(function (v) { return v === old ? name : v; }); }
    });
  }

  function fieldRow(field, model, redraw) {
    var schema = model.schema_json;
    if (field.type === "json") {
      return D.h("li", {className: "list-group-item itpm-d-field", dataset: {field: field.name}}, [
        D.h("i", {className: "fa fa-bars itpm-d-handle"}), " ", D.h("code", {}, [field.name]), " ",
        D.t("written in JSON: edit it in the JSON tab", "以 JSON 编写:请在 JSON 页签编辑")]);
    }
    field.title = field.title || {};
    var open = false;
    var more = D.h("div", {className: "hidden"});
    var row = D.h("li", {className: "list-group-item itpm-d-field", dataset: {field: field.name}}, [
      D.h("div", {className: "itpm-d-row"}, [
        D.h("i", {className: "fa fa-bars itpm-d-handle", title: D.t("Drag to reorder", "拖动排序")}),
        D.h("code", {className: "itpm-d-name"}, [field.name]),
        D.input("English", field.title, "en", {name: "title-en", change: function (raw) {
          if (!field.auto_name) { return; }  /* a new field is named after its English title */
          var slug = raw.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").replace(/^[^a-z]+/, "").slice(0, 40);
          if (slug && !model.fields.some(function (f) { return f !== field && f.name === slug; })) {
            rename(field, slug, model);
            row.querySelector(".itpm-d-name").textContent = slug;
            row.setAttribute("data-field", slug);
          }
        }}),
        D.input("中文", field.title, "zh", {name: "title-zh"}),
        D.select(D.t("Type", "类型"), TYPES.map(function (t) { return [t[0], D.t(t[1], t[2])]; }), field.type,
          function (v) { retype(field, v); redraw(); }, "type"),
        D.check(D.t("Required", "必填"), (schema.required || []).indexOf(field.name) >= 0, function (on) {
          listToggle(schema, "required", field.name, on);
        }, "required"),
        D.button(D.t("Rename", "重命名"), function () {
          var name = window.prompt(D.t("New name (a-z, 0-9, _)", "新名称(a-z、0-9、_)"), field.name);
          if (!name || name === field.name) { return; }
          delete field.auto_name;
          rename(field, name, model);
          redraw();
        }, "btn-default itpm-d-rename", "fa-i-cursor"),
        D.button("", function () { open = !open; more.classList.toggle("hidden", !open); if (open && !more.firstChild) { more.appendChild(details(field, model)); } },
          "btn-default itpm-d-more", "fa-sliders"),
        D.button("", function () {
          model.fields.splice(model.fields.indexOf(field), 1);
          FLAGS.forEach(function (flag) { listToggle(model.settings, flag[0], field.name, false); });
          listToggle(schema, "required", field.name, false);
          redraw();
        }, "btn-link itpm-d-remove", "fa-trash")
      ]),
      more
    ]);
    return row;
  }

  D.render = function (pane) {
    var model = D.model;
    var settings = model.settings;
    var example = D.h("code", {id: "itpm-d-number-example"}, [numberExample(settings.numbering)]);
    pane.appendChild(D.h("div", {className: "panel panel-default"}, [D.h("div", {className: "panel-body"}, [
      D.titleInputs(settings, "title"),
      D.h("div", {className: "itpm-d-row"}, [
        D.input(D.t("Numbering", "编号规则"), settings, "numbering", {name: "numbering", placeholder: "VEN-{YYYY}-{seq:04}",
          change: function () { example.textContent = numberExample(settings.numbering); }}),
        D.h("span", {className: "itpm-d-example"}, [D.t("First number: ", "首个编号:"), example]),
        D.input(D.t("Pilot departments (comma separated)", "试点部门(逗号分隔)"),
          {v: (settings.departments || []).join(",")}, "v", {name: "departments", change: function (raw) {
            var names = raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
            if (names.length) { settings.departments = names; } else { delete settings.departments; }
          }})
      ])
    ])]));
    var list = D.h("ul", {className: "list-group itpm-d-fields", id: "itpm-d-fields"});
    function redraw() {
      list.innerHTML = "";
      model.fields.forEach(function (field) { list.appendChild(fieldRow(field, model, redraw)); });
    }
    redraw();
    pane.appendChild(D.h("h4", {}, [D.t("Fields", "字段")]));
    pane.appendChild(list);
    window.Sortable.create(list, {forceFallback: true, handle: ".itpm-d-handle", animation: 120, onEnd: function (e) {
      model.fields.splice(e.newIndex, 0, model.fields.splice(e.oldIndex, 1)[0]);
    }});
    pane.appendChild(D.button(D.t("Add field", "添加字段"), function () {
      var n = model.fields.length + 1;
      while (model.fields.some(function (f) { return f.name === "field_" + n; })) { n++; }
      model.fields.push({name: "field_" + n, type: "text", title: {en: "", zh: ""}, help: {}, limits: {maxLength: 200}, json: {}, auto_name: true});
      redraw();
    }, "btn-default", "fa-plus"));
  };
})();
