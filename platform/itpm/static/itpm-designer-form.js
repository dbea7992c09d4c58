/* The form designer: sections and their fields by drag and drop (SortableJS), the palette of the
   record type's fields, each field's widget, help and show/require-when conditions picked from
   field, operator and value; a live preview as a chosen role at desktop or phone width. */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var WIDGETS = {text: ["Text box", "文本框"], textarea: ["Text area", "多行文本框"], richtext: ["Rich text editor", "富文本编辑器"],
    integer: ["Whole number", "整数"], number: ["Number", "数字"], money: ["Money", "金额"], percent: ["Percent", "百分比"],
    date: ["Date picker", "日期选择"], datetime: ["Date and time picker", "日期时间选择"], checkbox: ["Checkbox", "复选框"],
    yesno: ["Yes/no buttons", "是/否按钮"], select: ["Drop-down list", "下拉列表"], radio: ["Radio buttons", "单选按钮"],
    multiselect: ["Multiple-choice list", "多选列表"], checkboxes: ["Checkboxes", "复选框组"], reference: ["Record picker", "记录选择"],
    user: ["Person picker", "人员选择"], file: ["File upload", "文件上传"]};
  var SYSTEM = {assignee: ["Assignee", "处理人"], owner: ["Owner", "负责人"], client: ["Client", "客户"], department: ["Department", "部门"]};
  var selected = null;
  var preview = {role: "admin", width: "desktop", values: {}};

  function fields() { return D.fieldsOf(D.model.settings.record_type); }
  function fieldOf(name) { return fields().filter(function (f) { return f.name === name; })[0]; }
  function label(name) {
    var f = fieldOf(name);
    if (f) { return D.t(f.title) || name; }
    return SYSTEM[name] ? D.t(SYSTEM[name][0], SYSTEM[name][1]) : name;
  }
  function placed() {
    var names = {};
    D.model.sections.forEach(function (s) { s.fields.forEach(function (e) { names[e.field] = true; }); });
    return names;
  }
  function edited(entry) { delete entry.short; }

  function chip(entry) {
    var node = D.h("div", {className: "itpm-d-entry" + (entry === selected ? " selected" : ""), dataset: {field: entry.field}}, [
      label(entry.field), " ", D.h("code", {}, [entry.field]),
      entry.when ? D.h("span", {className: "itpm-d-badge"}, [D.t("shown when…", "条件显示")]) : null,
      entry.required_when ? D.h("span", {className: "itpm-d-badge"}, [D.t("required when…", "条件必填")]) : null
    ]);
    node._entry = entry;
    node.addEventListener("click", function () { selected = entry; D.rerender(); });
    return node;
  }

  /* After a drag: each section's fields are the entries in its list, in order (a palette item is new). */
  function readLists(container) {
    Array.prototype.forEach.call(container.querySelectorAll(".itpm-d-entries"), function (list, index) {
      D.model.sections[index].fields = Array.prototype.map.call(list.children, function (node) {
        return node._entry || {field: node.getAttribute("data-field"), short: true};
      });
    });
    D.model.sections = D.model.sections.filter(function (s) { return s.fields.length || s.keep; });
    D.rerender();
  }

  function sectionCard(section, index, container) {
    var list = D.h("div", {className: "itpm-d-entries", dataset: {section: String(index)}}, section.fields.map(chip));
    list.style.gridTemplateColumns = "repeat(" + (section.columns || 1) + ", minmax(0, 1fr))";
    window.Sortable.create(list, {forceFallback: true, group: "form", animation: 120, onSort: function () { setTimeout(function () { readLists(container); }, 0); }});
    return D.h("div", {className: "panel panel-default itpm-d-section"}, [D.h("div", {className: "panel-heading itpm-d-row"}, [
      D.h("i", {className: "fa fa-bars itpm-d-handle itpm-d-section-handle"}),
      D.input(D.t("Section", "分区") + " (English)", section.title, "en", {name: "section-en"}),
      D.input(D.t("Section", "分区") + " (中文)", section.title, "zh", {name: "section-zh"}),
      D.select(D.t("Columns", "列数"), [["", "—"], ["1", "1"], ["2", "2"], ["3", "3"]], section.columns || "", function (v) {
        if (v) { section.columns = Number(v); } else { delete section.columns; }
        D.rerender();
      }, "columns")
    ]), D.h("div", {className: "panel-body"}, [list])]);
  }

  function entryPanel(entry) {
    if (!entry) { return D.h("p", {className: "help-block"}, [D.t("Click a field of the form to set its widget, help and conditions.", "点击表单中的字段以设置控件、帮助和条件。")]); }
    /* the widgets that can edit the field's JSON type (system fields hold ids), as the form's check allows */
    var field = fieldOf(entry.field);
    var fits = (D.context.widgets || {})[SYSTEM[entry.field] ? "integer" : field && field.json_type] || Object.keys(WIDGETS);
    if (entry.widget && fits.indexOf(entry.widget) < 0) { fits = fits.concat([entry.widget]); }
    var widget = D.select(D.t("Widget", "控件"), [["", D.t("(by its type)", "(按类型)")]].concat(fits.map(function (w) {
      return [w, WIDGETS[w] ? D.t(WIDGETS[w][0], WIDGETS[w][1]) : w];
    })),
      entry.widget || "", function (v) { edited(entry); if (v) { entry.widget = v; } else { delete entry.widget; } }, "widget");
    entry.help = entry.help || {};
    var box = D.h("div", {className: "itpm-d-entry-panel", id: "itpm-d-entry-panel"}, [
      D.h("h4", {}, [label(entry.field), " ", D.h("code", {}, [entry.field])]),
      widget,
      D.titleInputs(entry, "help", D.t("Help", "帮助")),
      D.check(D.t("Read only", "只读"), entry.readonly, function (on) { edited(entry); if (on) { entry.readonly = true; } else { delete entry.readonly; } }, "readonly"),
      D.conditionBuilder(entry, "when", D.model.settings.record_type, D.t("Show only when", "仅在以下条件时显示")),
      D.conditionBuilder(entry, "required_when", D.model.settings.record_type, D.t("Required only when", "仅在以下条件时必填")),
      D.button(D.t("Remove from the form", "从表单移除"), function () {
        D.model.sections.forEach(function (s) { s.fields = s.fields.filter(function (e) { return e !== entry; }); });
        selected = null; D.rerender();
      }, "btn-link", "fa-trash")
    ]);
    box.addEventListener("input", function () { edited(entry); });
    box.addEventListener("change", function () { edited(entry); if (entry.help && !entry.help.en && !entry.help.zh) { delete entry.help; } });
    box.addEventListener("click", function (e) { if (e.target.closest && e.target.closest(".itpm-d-add-clause")) { edited(entry); } });
    return box;
  }

  function previewInput(name, field, entry, readOnly) {
    var value = preview.values[name];
    var options = field && field.options;
    var input;
    if (options) {
      input = D.h("select", {className: "form-control input-sm", name: "preview-" + name}, [D.h("option", {value: ""}, ["—"])].concat(
        options.map(function (o) { return D.h("option", {value: String(o.value), selected: String(o.value) === String(value)}, [D.t(o.en || String(o.value), o.zh || String(o.value))]); })));
    } else if (field && field.type === "yes_no") {
      input = D.h("input", {type: "checkbox", checked: value === true, name: "preview-" + name});
    } else {
      input = D.h(field && ["long_text", "rich_text"].indexOf(field.type) >= 0 ? "textarea" : "input",
        {className: "form-control input-sm", name: "preview-" + name, value: value === undefined ? "" : String(value),
          type: field && ["number", "whole_number", "money"].indexOf(field.type) >= 0 ? "number" : field && field.type === "date" ? "date" : "text"});
    }
    input.disabled = !!readOnly;
    input.addEventListener("change", function () {
      preview.values[name] = input.type === "checkbox" ? input.checked : input.value;
      D.rerender();
    });
    return input;
  }

  function previewPane() {
    var roleRules = ((D.context.roles[preview.role] || {}).records || {});
    var rules = (roleRules[D.model.settings.record_type] || roleRules["*"] || {}).fields || {};
    var required = (D.context.record_types[D.model.settings.record_type] || {}).required || [];
    var body = D.h("div", {className: "itpm-d-preview " + preview.width, id: "itpm-d-preview"});
    D.model.sections.forEach(function (section) {
      var grid = D.h("div", {className: "itpm-d-grid"});
      grid.style.gridTemplateColumns = "repeat(" + (preview.width === "phone" ? 1 : section.columns || 1) + ", minmax(0, 1fr))";
      section.fields.forEach(function (entry) {
        if (rules[entry.field] === "hidden" || !D.holds(entry.when, preview.values)) { return; }
        var field = fieldOf(entry.field);
        var star = required.indexOf(entry.field) >= 0 || (entry.required_when && D.holds(entry.required_when, preview.values));
        grid.appendChild(D.h("div", {className: "form-group", dataset: {preview: entry.field}}, [
          D.h("label", {}, [label(entry.field), star ? " *" : ""]),
          previewInput(entry.field, field, entry, entry.readonly || rules[entry.field] === "read_only"),
          entry.help && D.t(entry.help) ? D.h("p", {className: "help-block"}, [D.t(entry.help)]) : null
        ]));
      });
      body.appendChild(D.h("fieldset", {}, [D.h("legend", {}, [D.t(section.title)]), grid]));
    });
    return D.h("div", {}, [
      D.h("h4", {}, [D.t("Preview", "预览")]),
      D.h("div", {className: "itpm-d-row"}, [
        D.select(D.t("As role", "以角色"), Object.keys(D.context.roles).map(function (r) { return [r, D.t(D.context.roles[r].title) || r]; }),
          preview.role, function (v) { preview.role = v; D.rerender(); }, "preview-role"),
        D.select(D.t("Width", "宽度"), [["desktop", D.t("Desktop", "桌面")], ["phone", D.t("Phone", "手机")]], preview.width,
          function (v) { preview.width = v; D.rerender(); }, "preview-width")
      ]),
      body
    ]);
  }

  D.tidy = function (model) {
    model.sections.forEach(function (s) {
      s.fields.forEach(function (e) { if (e.help && !e.help.en && !e.help.zh) { delete e.help; } });
    });
  };

  D.render = function (pane) {
    var model = D.model;
    var taken = placed();
    var palette = D.h("div", {className: "itpm-d-entries itpm-d-palette-list", id: "itpm-d-palette"},
      fields().map(function (f) { return f.name; }).concat(Object.keys(SYSTEM)).filter(function (n) { return !taken[n]; })
        .map(function (n) { return D.h("div", {className: "itpm-d-chip", dataset: {field: n}}, [label(n)]); }));
    window.Sortable.create(palette, {forceFallback: true, group: {name: "form", pull: "clone", put: false}, sort: false, animation: 120});
    var container = D.h("div", {className: "itpm-d-section-list"});
    model.sections.forEach(function (section, index) { section.title = section.title || {}; container.appendChild(sectionCard(section, index, container)); });
    window.Sortable.create(container, {forceFallback: true, handle: ".itpm-d-section-handle", animation: 120, onEnd: function (e) {
      model.sections.splice(e.newIndex, 0, model.sections.splice(e.oldIndex, 1)[0]);
      D.rerender();
    }});
    pane.appendChild(D.h("div", {className: "itpm-d-row"}, [D.titleInputs(model.settings, "title")]));
    pane.appendChild(D.h("div", {className: "itpm-d-form"}, [
      D.h("div", {className: "itpm-d-palette"}, [D.h("h4", {}, [D.t("Fields to place", "待放置字段")]), palette,
        D.h("p", {className: "help-block"}, [D.t("Drag a field into a section.", "把字段拖入分区。")])]),
      D.h("div", {className: "itpm-d-sections"}, [container,
        D.button(D.t("Add section", "添加分区"), function () {
          model.sections.push({title: {en: "", zh: ""}, fields: [], keep: true}); D.rerender();
        }, "btn-default", "fa-plus")]),
      D.h("div", {className: "itpm-d-panel"}, [entryPanel(selected)])
    ]));
    pane.appendChild(previewPane());
  };
})();
