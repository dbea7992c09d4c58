/* The condition builder: clauses of field, operator and value that must all hold, the model of
   itpm.designers.conditions (written as the JSON Schema conditions the engine evaluates). */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var OPS = [
    ["equals", "=", "等于"], ["not_equals", "≠", "不等于"], ["one_of", "is one of", "属于"],
    ["at_least", "≥", "≥"], ["at_most", "≤", "≤"], ["filled", "is filled", "已填写"],
    ["is_true", "is yes", "为是"], ["is_false", "is no", "为否"]
  ];

  /* The fields of the record type the condition reads: [{name, title, type, options}]. */
  D.fieldsOf = function (recordType) {
    var type = D.context.record_types[recordType];
    return type ? type.fields : [];
  };
  function valueInput(clause, field) {
    var options = field && field.options;
    if (clause.op === "filled" || clause.op === "is_true" || clause.op === "is_false") { delete clause.value; return null; }
    if (clause.op === "one_of") {
      if (!Array.isArray(clause.value)) { clause.value = []; }
      if (options) {
        return D.h("span", {}, options.map(function (o) {
          return D.check(D.t(o.en || String(o.value), o.zh || String(o.value)), clause.value.indexOf(o.value) >= 0, function (on) {
            clause.value = clause.value.filter(function (v) { return v !== o.value; });
            if (on) { clause.value.push(o.value); }
          }, "value");
        }));
      }
      return D.input(D.t("Values (comma separated)", "值(逗号分隔)"), {v: clause.value.join(",")}, "v",
        {change: function (raw) { clause.value = raw ? raw.split(",") : []; }});
    }
    var numeric = field && ["number", "whole_number", "money"].indexOf(field.type) >= 0;
    if (options) {
      if (clause.value === undefined && options.length) { clause.value = options[0].value; }
      return D.select("", options.map(function (o) { return [o.value, D.t(o.en || String(o.value), o.zh || String(o.value))]; }),
        clause.value, function (v) {
          var picked = options.filter(function (o) { return String(o.value) === v; })[0];
          clause.value = picked ? picked.value : v;
        }, "value");
    }
    return D.input(D.t("Value", "值"), clause, "value", {type: numeric ? "number" : "text"});
  }

  /* A builder for holder[key] (a condition model, {all: [...]} or {json: ...}); absent = always. */
  D.conditionBuilder = function (holder, key, recordType, label) {
    var box = D.h("div", {className: "itpm-d-condition", dataset: {condition: key}});
    function draw() {
      box.innerHTML = "";
      box.appendChild(D.h("strong", {}, [label]));
      var condition = holder[key];
      if (condition && condition.json) {
        box.appendChild(D.h("p", {className: "help-block"}, [D.t("Written in JSON (edit it in the JSON tab): ", "以 JSON 编写(请在 JSON 页签编辑):"),
          D.h("code", {}, [JSON.stringify(condition.json)])]));
        return;
      }
      var fields = D.fieldsOf(recordType);
      ((condition && condition.all) || []).forEach(function (clause, index) {
        var field = fields.filter(function (f) { return f.name === clause.field; })[0];
        box.appendChild(D.h("div", {className: "itpm-d-clause form-inline"}, [
          D.select("", fields.map(function (f) { return [f.name, D.t(f.title) || f.name]; }), clause.field,
            function (v) { clause.field = v; delete clause.value; draw(); }, "field"),
          D.select("", OPS.map(function (o) { return [o[0], D.t(o[1], o[2])]; }), clause.op,
            function (v) { clause.op = v; delete clause.value; draw(); }, "op"),
          valueInput(clause, field),
          D.button("", function () {
            condition.all.splice(index, 1);
            if (!condition.all.length) { delete holder[key]; }
            draw();
          }, "btn-link", "fa-times")
        ]));
      });
      box.appendChild(D.button(D.t("Add condition", "添加条件"), function () {
        if (!fields.length) { return; }
        holder[key] = holder[key] || {all: []};
        holder[key].all.push({field: fields[0].name, op: "equals"});
        draw();
      }, "btn-default itpm-d-add-clause", "fa-plus"));
    }
    draw();
    return box;
  };

  /* Whether a condition model holds for values {field: value} (for previews). */
  D.holds = function (condition, values) {
    if (!condition) { return true; }
    if (condition.json) { return true; }
    return condition.all.every(function (c) {
      var v = values[c.field];
      var filled = v !== undefined && v !== null && v !== "";
      switch (c.op) {
        case "equals": return filled && String(v) === String(c.value);
        case "not_equals": return filled && String(v) !== String(c.value);
        case "one_of": return filled && (c.value || []).map(String).indexOf(String(v)) >= 0;
        case "at_least": return filled && Number(v) >= Number(c.value);
        case "at_most": return filled && Number(v) <= Number(c.value);
        case "filled": return filled;
        case "is_true": return v === true || v === "true";
        case "is_false": return v === false || v === "false";
      }
      return true;
    });
  };
})();
