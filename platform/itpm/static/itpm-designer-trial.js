/* "Test as a role before publishing", in the workflow designer: a role, and a made-up record in a
   state or an existing record picked by its number (read as that role: its hidden fields are not
   shown, nor any value of a record its rows never hold); the answer says which transitions the role may take there (and why not), who would be
   asked to approve each step, and which automations would fire (itpm.designers.trial). */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var trial = {role: "", state: "", values: {}, number: ""};
  var SCOPES = {own: ["their own", "本人创建的"], assigned: ["assigned to them", "分派给本人的"], team: ["of their team", "本团队的"],
    department: ["of their department", "本部门的"], client: ["of their client organisation", "本客户组织的"]};

  /* What the role reads of an existing record: whether it reads it, and the values it would see. */
  function recordBox(record) {
    var reads = record.reads === "all" ? D.t("It reads this record.", "该角色可以查看此记录。")
      : record.reads.length ? D.t("It reads this record only if it is ", "仅当此记录是以下之一时,该角色才能查看:") +
        record.reads.map(function (s) { return D.t(SCOPES[s][0], SCOPES[s][1]); }).join(D.t(" or ", "或")) + "."
      : D.t("It may not read this record: nothing of it is shown.", "该角色不能查看此记录:不显示任何内容。");
    var fields = D.fieldsOf(D.model.record_type);
    return D.h("div", {id: "itpm-d-trial-record", className: "itpm-d-step"}, [
      D.h("strong", {}, [record.number + " (" + record.state + ")"]), " ", reads,
      record.hidden.length ? D.h("div", {className: "help-block"}, [D.t("Hidden from the role: ", "对该角色隐藏:") + record.hidden.join(", ")]) : null,
      D.h("dl", {className: "dl-horizontal"}, Object.keys(record.values).reduce(function (out, name) {
        var f = fields.filter(function (x) { return x.name === name; })[0];
        var value = record.values[name];
        out.push(D.h("dt", {}, [f ? D.t(f.title) || name : name]), D.h("dd", {dataset: {value: name}}, [value === null || value === undefined ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value)]));
        return out;
      }, []))
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

  function results(answer) {
    var list = D.h("div", {id: "itpm-d-trial-results"});
    answer.transitions.forEach(function (t) {
      list.appendChild(D.h("div", {className: "itpm-d-step", dataset: {trial: t.name}}, [
        D.h("strong", {}, [D.t(t.title) || t.name, " → ", t.to, " "]),
        D.h("span", {className: "label " + (t.may_take ? "label-success" : "label-default")}, [t.may_take ? D.t("may take it", "可执行") : D.t("may not", "不可执行")]),
        t.why.length ? D.h("div", {className: "help-block"}, [t.why.join("; ")]) : null,
        t.fill.length ? D.h("div", {className: "help-block"}, [D.t("to fill first: ", "需先填写:") + t.fill.join(", ")]) : null,
        t.steps.length ? D.h("ol", {}, t.steps.map(function (s) {
          return D.h("li", {}, [D.t(s.title) + ": " + s.approvers + " (" + (typeof s.decide === "object" ? s.decide.quorum + "/N" : s.decide) + ")" +
            (s.applies ? "" : D.t(" — does not apply", " — 不适用"))]);
        })) : null
      ]));
    });
    list.appendChild(D.h("p", {}, [D.h("strong", {}, [D.t("Automations that would fire: ", "将触发的自动化:")]),
      answer.automations.length ? answer.automations.map(function (a) { return D.t(a.title) || a.name; }).join(", ") : "—"]));
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
