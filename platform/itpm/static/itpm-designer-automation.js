/* The automation editor: "when ... if ... then ..." with pickers: the trigger and its settings,
   the condition built from clauses (or an expression), and the actions (notify and set by
   pickers; others are kept as written and edited in the JSON tab). */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var TRIGGERS = [["created", "A record is created", "记录被创建"], ["updated", "A record is changed", "记录被修改"],
    ["field_changed", "A field changes", "字段变化"], ["state_entered", "A record enters a state", "记录进入某状态"],
    ["approval_decided", "An approval is decided", "审批有了结果"], ["schedule", "On a schedule", "按计划时间"],
    ["sla_warning", "An SLA is about to breach", "SLA 即将超时"], ["sla_breach", "An SLA is breached", "SLA 已超时"],
    ["forecast_flagged", "A project's forecast raises a risk flag", "项目预测出现新的风险标记"]];
  var PEOPLE = [["assignee", "Assignee", "处理人"], ["owner", "Owner", "负责人"], ["creator", "Requester (creator)", "申请人(创建人)"]];

  function flow() { return (D.context.workflows || {})[D.model.record_type] || {states: [], transitions: []}; }

  function triggerBox(trigger) {
    var parts = [D.select(D.t("When", "当"), TRIGGERS.map(function (t) { return [t[0], D.t(t[1], t[2])]; }), trigger.on, function (v) {
      Object.keys(trigger).forEach(function (k) { delete trigger[k]; });
      trigger.on = v;
      if (v === "state_entered") { trigger.state = (flow().states[0] || {}).name; }
      if (v === "field_changed") { trigger.field = (D.fieldsOf(D.model.record_type)[0] || {}).name; }
      D.rerender();
    }, "trigger")];
    if (trigger.on === "state_entered") {
      parts.push(D.select(D.t("State", "状态"), flow().states.map(function (s) { return [s.name, D.t(s.title) || s.name]; }), trigger.state,
        function (v) { trigger.state = v; }, "trigger-state"));
    }
    if (trigger.on === "field_changed") {
      parts.push(D.select(D.t("Field", "字段"), D.fieldsOf(D.model.record_type).map(function (f) { return [f.name, D.t(f.title) || f.name]; }),
        trigger.field, function (v) { trigger.field = v; }, "trigger-field"));
    }
    if (trigger.on === "approval_decided") {
      parts.push(D.select(D.t("Decision", "结果"), [["", D.t("either", "任一")], ["approved", D.t("approved", "批准")], ["rejected", D.t("rejected", "驳回")]],
        trigger.decision || "", function (v) { if (v) { trigger.decision = v; } else { delete trigger.decision; } }, "trigger-decision"));
      parts.push(D.select(D.t("Of the transition", "转换"), [["", D.t("any", "任一")]].concat(flow().transitions.filter(function (t) { return t.approval; })
        .map(function (t) { return [t.name, D.t(t.title) || t.name]; })), trigger.transition || "",
        function (v) { if (v) { trigger.transition = v; } else { delete trigger.transition; } }, "trigger-transition"));
    }
    var others = Object.keys(trigger).filter(function (k) { return ["on", "state", "field", "decision", "transition"].indexOf(k) < 0; });
    if (others.length) { parts.push(D.h("code", {}, [JSON.stringify(trigger)])); }
    return D.h("div", {className: "itpm-d-row"}, parts);
  }

  function actionBox(action, index) {
    var actions = D.model.actions;
    var head = D.h("div", {className: "itpm-d-row"}, [
      D.h("strong", {}, [D.t("Then", "则") + " " + (index + 1)]),
      D.select("", [["notify", D.t("Notify", "通知")], ["set", D.t("Set fields", "设置字段")]].concat(
        ["notify", "set"].indexOf(action.do) < 0 ? [[action.do, action.do]] : []), action.do, function (v) {
        actions[index] = v === "notify" ? {do: "notify", to: ["creator"], subject: {en: "", zh: ""}} : {do: "set", fields: {}};
        D.rerender();
      }, "action-do"),
      D.button("", function () { actions.splice(index, 1); D.rerender(); }, "btn-link", "fa-trash")]);
    var body = [];
    if (action.do === "notify") {
      action.to = action.to || [];
      body.push(D.h("div", {}, [D.h("strong", {}, [D.t("To", "通知")]), " "].concat(PEOPLE.map(function (p) {
        return D.check(D.t(p[1], p[2]), action.to.indexOf(p[0]) >= 0, function (on) {
          action.to = action.to.filter(function (x) { return x !== p[0]; });
          if (on) { action.to.push(p[0]); }
        }, "to-" + p[0]);
      }))));
      body.push(D.titleInputs(action, "subject", D.t("Subject", "主题")));
      action.body = action.body || {};
      body.push(D.titleInputs(action, "body", D.t("Message", "内容")));
    } else if (action.do === "set") {
      action.fields = action.fields || {};
      var fields = D.fieldsOf(D.model.record_type);
      Object.keys(action.fields).forEach(function (name) {
        body.push(D.h("div", {className: "itpm-d-row"}, [D.h("code", {}, [name]), D.input(D.t("Value", "值"), action.fields, name)]));
      });
      body.push(D.select(D.t("Add a field to set", "添加要设置的字段"), [["", "—"]].concat(fields.map(function (f) { return [f.name, D.t(f.title) || f.name]; })), "",
        function (v) { if (v) { action.fields[v] = ""; D.rerender(); } }, "set-field"));
    } else {
      body.push(D.h("p", {className: "help-block"}, [D.t("Written in JSON (edit it in the JSON tab): ", "以 JSON 编写(请在 JSON 页签编辑):"), D.h("code", {}, [JSON.stringify(action)])]));
    }
    return D.h("div", {className: "itpm-d-step", dataset: {action: String(index)}}, [head].concat(body));
  }

  D.tidy = function (model) {
    (model.actions || []).forEach(function (a) { if (a.body && !a.body.en && !a.body.zh) { delete a.body; } });
  };

  D.render = function (pane) {
    var model = D.model;
    model.trigger = model.trigger || {on: "created"};
    model.actions = model.actions || [];
    pane.appendChild(D.titleInputs(model, "title"));
    pane.appendChild(D.select(D.t("Records of", "记录类型"), Object.keys(D.context.record_types).map(function (n) {
      return [n, D.t(D.context.record_types[n].title) || n];
    }), model.record_type, function (v) { model.record_type = v; D.rerender(); }, "record_type"));
    pane.appendChild(D.h("div", {className: "panel panel-default"}, [D.h("div", {className: "panel-body"}, [
      triggerBox(model.trigger),
      D.conditionBuilder(model, "condition", model.record_type, D.t("If", "如果")),
      D.input(D.t("If (expression)", "如果(表达式)"), model, "expression", {name: "expression"}),
      D.h("div", {id: "itpm-d-actions"}, model.actions.map(actionBox)),
      D.button(D.t("Add action", "添加动作"), function () {
        model.actions.push({do: "notify", to: ["creator"], subject: {en: "", zh: ""}}); D.rerender();
      }, "btn-default", "fa-plus")
    ])]));
  };
})();
