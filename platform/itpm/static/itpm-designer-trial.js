/* "Test as a role before publishing", in the workflow designer: a role, a state and a made-up
   record; the answer says which transitions the role may take there (and why not), who would be
   asked to approve each step, and which automations would fire (itpm.designers.trial). */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var trial = {role: "", state: "", values: {}};

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
      D.h("p", {className: "help-block"}, [D.t("A made-up record:", "一条假设的记录:")]),
      D.h("div", {className: "itpm-d-row"}, D.fieldsOf(model.record_type).filter(function (f) { return f.type !== "json"; }).map(valueInput)),
      D.button(D.t("Run", "运行"), function () {
        D.post(document.getElementById("itpm-designer").getAttribute("data-trial-url"),
          {model: model, role: trial.role, state: trial.state, values: trial.values}).then(function (answer) {
          out.innerHTML = "";
          if (answer.problems) { D.showProblems(answer.problems); return; }
          out.appendChild(results(answer));
        });
      }, "btn-primary", "fa-play"),
      out
    ]);
  };
})();
