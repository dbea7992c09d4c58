/* "Test as a role before publishing", in the workflow designer: a role, and a made-up record in a
   state or an existing record picked by its number (read as that role: its hidden fields are not
   shown, nor any value of a record its rows never hold); the answer shows the form as the role sees
   it, which transitions it may take there (and why not), who would be asked to approve each step
   (by name on an existing record), and which automations would fire on each outcome
   (itpm.designers.trial). */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var trial = {role: "", state: "", values: {}, number: ""};
  var SCOPES = {own: ["their own", "本人创建的"], assigned: ["assigned to them", "分派给本人的"], team: ["of their team", "本团队的"],
    department: ["of their department", "本部门的"], client: ["of their client organisation", "本客户组织的"],
    client_tree: ["of their client organisation or one below it", "本客户组织或其下属单位的"]};

  /* What the role reads of an existing record: whether it reads it (its values are in the form below). */
  function recordBox(record) {
    var reads = record.reads === "all" ? D.t("It reads this record.", "该角色可以查看此记录。")
      : record.reads.length ? D.t("It reads this record only if it is ", "仅当此记录是以下之一时,该角色才能查看:") +
        record.reads.map(function (s) { return D.t(SCOPES[s][0], SCOPES[s][1]); }).join(D.t(" or ", "或")) + "."
      : D.t("It may not read this record: nothing of it is shown.", "该角色不能查看此记录:不显示任何内容。");
    return D.h("div", {id: "itpm-d-trial-record", className: "itpm-d-step"}, [
      D.h("strong", {}, [record.number + " (" + stateTitle(record.state) + ")"]), " ", reads
    ]);
  }

  function valueInput(f) {
    var values = trial.values;
    if (f.options) {
      return D.select(D.t(f.title) || f.name, [["", "—"]].concat(f.options.map(function (o) {
        return [o.value, D.t(o.en || String(o.value), o.zh || String(o.value))];
      })), values[f.name] === undefined ? "" : values[f.name], function (v) {
        if (v === "") { delete values[f.name]; } else { values[f.name] = f.value_type === "integer" ? Number(v) : v; }
      }, "trial-" + f.name);
    }
    if (f.type === "yes_no") { return D.check(D.t(f.title) || f.name, values[f.name], function (on) { values[f.name] = on; }, "trial-" + f.name); }
    var numeric = ["number", "whole_number", "money"].indexOf(f.type) >= 0;
    return D.input(D.t(f.title) || f.name, values, f.name, {type: numeric ? "number" : "text", name: "trial-" + f.name});
  }

  var OUTCOMES = {created: ["on creating it", "新建时"], taken: ["when taken", "执行时"],
    approved: ["when approved", "批准时"], rejected: ["when refused", "驳回时"]};

  /* A value as the form shows it: a choice by its label. */
  function shownValue(name, value) {
    if (value === null || value === undefined || value === "") { return ""; }
    var f = D.fieldsOf(D.model.record_type).filter(function (x) { return x.name === name; })[0];
    var option = f && f.options && f.options.filter(function (o) { return String(o.value) === String(value); })[0];
    if (option) { return D.t(option.en || String(value), option.zh || String(value)); }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  /* The form as the role sees it: its sections and fields (read-only ones greyed, required ones starred),
     the values it would see; what its field rules hide and what a condition leaves out, named below. */
  function formBox(form, edits) {
    var canEdit = edits === "all" || (edits && edits.length);
    var box = D.h("div", {id: "itpm-d-trial-form", className: "itpm-d-preview desktop"}, [
      D.h("h5", {}, [D.h("strong", {}, [D.t("The form as this role sees it", "该角色看到的表单")]), " ",
        canEdit ? "" : D.h("span", {className: "label label-default"}, [D.t("read only: the role may not edit it", "只读:该角色不能编辑")])])
    ]);
    form.sections.forEach(function (section) {
      var grid = D.h("div", {className: "itpm-d-grid"});
      grid.style.gridTemplateColumns = "repeat(" + (section.columns || 1) + ", minmax(0, 1fr))";
      section.fields.forEach(function (f) {
        var readOnly = f.read_only || !canEdit;
        var tick = ["checkbox", "yesno"].indexOf(f.widget) >= 0;  /* yes/no: a box, ticked or not */
        grid.appendChild(D.h("div", {className: "form-group", dataset: {"trial-field": f.field}}, [
          D.h("label", {}, [D.t(f.title) || f.field, f.required ? " *" : "", f.read_only ? D.h("small", {className: "text-muted"}, [D.t(" (read only)", "(只读)")]) : null]),
          tick ? D.h("div", {}, [D.h("input", {type: "checkbox", checked: f.value === true, disabled: true, name: "trial-form-" + f.field})])
            : D.h("input", {className: "form-control input-sm", value: shownValue(f.field, f.value), disabled: readOnly, readOnly: true, name: "trial-form-" + f.field}),
          f.help && D.t(f.help) ? D.h("p", {className: "help-block"}, [D.t(f.help)]) : null
        ]));
      });
      box.appendChild(D.h("fieldset", {}, [D.h("legend", {}, [D.t(section.title)]), grid]));
    });
    if (form.hidden.length) { box.appendChild(D.h("p", {className: "help-block", id: "itpm-d-trial-hidden"}, [D.t("Hidden from the role: ", "对该角色隐藏:") + form.hidden.map(label).join(", ")])); }
    if (form.conditional.length) { box.appendChild(D.h("p", {className: "help-block", id: "itpm-d-trial-conditional"}, [D.t("Not shown, their condition does not hold: ", "条件不成立,未显示:") + form.conditional.map(label).join(", ")])); }
    return box;
  }

  function stateTitle(name) {
    var state = D.model.states.filter(function (x) { return x.name === name; })[0];
    return state ? D.t(state.title) || name : name;
  }

  function label(name) {
    var f = D.fieldsOf(D.model.record_type).filter(function (x) { return x.name === name; })[0];
    return f ? D.t(f.title) || name : name;
  }

  function fired(automations) {
    return automations.length ? automations.map(function (a) {
      return (D.t(a.title) || a.name) + " (" + D.t(OUTCOMES[a.outcome][0], OUTCOMES[a.outcome][1]) + ")";
    }).join(", ") : "—";
  }

  function results(answer) {
    var list = D.h("div", {id: "itpm-d-trial-results"});
    if (answer.form) { list.appendChild(formBox(answer.form, answer.edits)); }
    answer.transitions.forEach(function (t) {
      list.appendChild(D.h("div", {className: "itpm-d-step", dataset: {trial: t.name}}, [
        D.h("strong", {}, [D.t(t.title) || t.name, " → ", stateTitle(t.to), " "]),
        D.h("span", {className: "label " + (t.may_take ? "label-success" : "label-default")}, [t.may_take ? D.t("may take it", "可执行") : D.t("may not", "不可执行")]),
        t.why.length ? D.h("div", {className: "help-block"}, [t.why.join("; ")]) : null,
        t.fill.length ? D.h("div", {className: "help-block"}, [D.t("to fill first: ", "需先填写:") + t.fill.map(label).join(", ")]) : null,
        t.steps.length ? D.h("ol", {}, t.steps.map(function (s) {
          var who = s.people ? (s.people.length ? s.people.join(", ") : D.t("nobody", "无人")) + " — " + s.approvers : s.approvers;
          return D.h("li", {className: s.people && !s.people.length && s.applies ? "text-danger" : ""}, [D.t(s.title) + ": " + who + " (" + (typeof s.decide === "object" ? s.decide.quorum + "/N" : s.decide) + ")" +
            (s.applies ? "" : D.t(" — does not apply", " — 不适用"))]);
        })) : null,
        t.may_take ? D.h("div", {className: "itpm-d-trial-fires"}, [D.t("Automations that would fire: ", "将触发的自动化:") + fired(t.automations)]) : null
      ]));
    });
    if (answer.created && !answer.record) {
      list.appendChild(D.h("p", {id: "itpm-d-trial-created"}, [D.h("strong", {}, [D.t("Automations that would fire on creating it: ", "新建时将触发的自动化:")]),
        fired(answer.created)]));
    }
    return list;
  }

  /* The panel, shown by the workflow designer in its side panel. */
  D.trialPanel = function () {
    var model = D.model;
    trial.role = trial.role || Object.keys(D.context.roles)[0];
    trial.state = trial.state || model.initial;
    var out = D.h("div");
    return D.h("div", {id: "itpm-d-trial"}, [
      D.h("h4", {}, [D.t("Test as a role", "以角色试运行")]),
      D.h("div", {className: "itpm-d-row"}, [
        D.select(D.t("Role", "角色"), Object.keys(D.context.roles).map(function (r) { return [r, D.t(D.context.roles[r].title) || r]; }),
          trial.role, function (v) { trial.role = v; }, "trial-role"),
        D.select(D.t("In the state", "所在状态"), model.states.map(function (s) { return [s.name, D.t(s.title) || s.name]; }),
          trial.state, function (v) { trial.state = v; }, "trial-state")
      ]),
      D.input(D.t("An existing record (its number), or leave empty and make one up below", "已有记录(编号),或留空并在下方假设一条"),
        trial, "number", {name: "trial-number", placeholder: "VEN-2026-0001"}),
      D.h("p", {className: "help-block"}, [D.t("A made-up record:", "一条假设的记录:")]),
      D.h("div", {className: "itpm-d-row"}, D.fieldsOf(model.record_type).filter(function (f) { return f.type !== "json"; }).map(valueInput)),
      D.button(D.t("Run", "运行"), function () {
        D.post(document.getElementById("itpm-designer").getAttribute("data-trial-url"),
          {model: model, role: trial.role, state: trial.state, values: trial.values, number: trial.number || ""}).then(function (answer) {
          out.innerHTML = "";
          if (answer.problems) { D.showProblems(answer.problems); return; }
          D.showProblems([]);
          if (answer.record) { out.appendChild(recordBox(answer.record)); }
          out.appendChild(results(answer));
        });
      }, "btn-primary", "fa-play"),
      out
    ]);
  };
})();
