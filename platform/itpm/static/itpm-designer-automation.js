/* The automation editor: "when ... if ... then ..." with pickers: every trigger with its settings
   (fields changed, from and to values, state, decision and transition, schedule, forecast flags),
   the condition built from clauses (or an expression), and every action the engine runs with its
   settings (assign, set, comment, create, notify, webhook, report, transition), each now or after
   a delay. What the pickers cannot show stays JSON, edited in the JSON tab. */
(function () {
  "use strict";
  var D = window.ItpmDesigner;
  if (!D) { return; }
  var TRIGGERS = [["created", "A record is created", "记录被创建"], ["updated", "A record is changed", "记录被修改"],
    ["field_changed", "A field changes", "字段变化"], ["state_entered", "A record enters a state", "记录进入某状态"],
    ["approval_decided", "An approval is decided", "审批有了结果"], ["schedule", "On a schedule", "按计划时间"],
    ["sla_warning", "An SLA is about to breach", "SLA 即将超时"], ["sla_breach", "An SLA is breached", "SLA 已超时"],
    ["forecast_flagged", "A project's forecast raises a risk flag", "项目预测出现新的风险标记"]];
  var FLAGS = [["p85_late", "Likely late (P85 after the planned finish)", "可能延期(P85 晚于计划完成)"],
    ["spi_t_low", "Schedule performance low", "进度绩效偏低"], ["cost_over", "Cost over plan", "成本超支"],
    ["milestone_overdue", "A milestone is overdue", "里程碑逾期"], ["risk_review_overdue", "A risk review is overdue", "风险复核逾期"]];
  var ACTIONS = [["notify", "Notify", "通知"], ["set", "Set fields", "设置字段"], ["assign", "Assign", "分派"],
    ["comment", "Add a comment", "添加评论"], ["create", "Create a record", "创建记录"], ["webhook", "Call a webhook or team chat", "调用 Webhook 或群机器人"],
    ["report", "Render a report", "生成报告"], ["transition", "Take a transition", "执行转换"]];
  var PEOPLE = [["assignee", "Assignee", "处理人"], ["owner", "Owner", "负责人"], ["creator", "Requester (creator)", "申请人(创建人)"]];
  var STRATEGIES = [["", "(the team's default)", "(团队默认)"], ["round_robin", "In turn", "轮流"],
    ["least_work", "Least open work", "待办最少者"], ["skills", "By skill", "按技能"]];
  var CHATS = [["", "A signed JSON webhook", "签名的 JSON Webhook"], ["wecom", "WeCom group robot", "企业微信群机器人"],
    ["dingtalk", "DingTalk group robot", "钉钉群机器人"], ["feishu", "Feishu group robot", "飞书群机器人"]];
  var LANGS = [["", "(default)", "(默认)"], ["zh", "中文", "中文"], ["en", "English", "English"]];

  function flow() { return (D.context.workflows || {})[D.model.record_type] || {states: [], transitions: []}; }
  function fieldOptions(type) { return D.fieldsOf(type).map(function (f) { return [f.name, D.t(f.title) || f.name]; }); }
  function pick(list) { return list.map(function (o) { return [o[0], D.t(o[1], o[2])]; }); }
  function toggle(list, item, on) {
    var key = JSON.stringify(item);
    var kept = list.filter(function (x) { return JSON.stringify(x) !== key; });
    if (on) { kept.push(item); }
    return kept;
  }
  function has(list, item) { var key = JSON.stringify(item); return (list || []).some(function (x) { return JSON.stringify(x) === key; }); }
  /* A box per item of holder[key] (a list; each box read and written at its click, so boxes of the same list agree). */
  function checks(label, items, holder, key, change, prefix) {
    return D.h("div", {className: "itpm-d-checks"}, [D.h("strong", {}, [label]), " "].concat(items.map(function (i) {
      return D.check(i[1], has(holder[key], i[0]), function (on) { change(toggle(holder[key] || [], i[0], on)); },
        prefix + "-" + (typeof i[0] === "string" ? i[0] : JSON.stringify(i[0])));
    })));
  }
  /* A value typed by its field (a number stays a number, a yes/no a boolean, a choice one of its values). */
  function typedInput(obj, key, field, name) {
    if (field && field.options) {
      return D.select("", [["", "—"]].concat(field.options.map(function (o) { return [String(o.value), D.t(o.en || String(o.value), o.zh || String(o.value))]; })),
        obj[key] === undefined ? "" : String(obj[key]), function (v) {
          if (v === "") { delete obj[key]; return; }
          obj[key] = field.value_type === "integer" || field.value_type === "number" ? Number(v) : v;
        }, name);
    }
    if (field && field.type === "yes_no") { return D.check(D.t("yes", "是"), obj[key], function (on) { obj[key] = on; }, name); }
    var numeric = field && ["number", "whole_number", "money"].indexOf(field.type) >= 0;
    var holder = {v: obj[key] === undefined ? undefined : typeof obj[key] === "object" ? JSON.stringify(obj[key]) : obj[key]};
    return D.input("", holder, "v", {name: name, change: function (raw) {
      if (raw === "") { delete obj[key]; return; }
      obj[key] = numeric && raw.trim() !== "" && !isNaN(Number(raw)) ? Number(raw) : raw;  /* "{budget_plan}" stays a placeholder */
    }});
  }
  /* fields -> values (set's fields, create's data): a row per field, a picker to add one. */
  function valuesBox(values, type, name, emptyAllowed) {
    var fields = D.fieldsOf(type).filter(function (f) { return f.type !== "json"; });
    var rows = Object.keys(values).map(function (key) {
      var f = fields.filter(function (x) { return x.name === key; })[0];
      return D.h("div", {className: "itpm-d-row", dataset: {value: key}}, [D.h("span", {}, [(f ? D.t(f.title) || key : key) + " ="]),
        typedInput(values, key, f, name + "-" + key),
        D.button("", function () { delete values[key]; D.rerender(); }, "btn-link", "fa-times")]);
    });
    rows.push(D.select("", [["", D.t("Add a field…", "添加字段…")]].concat(fields.filter(function (f) { return !(f.name in values); })
      .map(function (f) { return [f.name, D.t(f.title) || f.name]; })), "", function (v) {
      if (!v) { return; }
      var f = fields.filter(function (x) { return x.name === v; })[0];
      values[v] = f.options && f.options.length ? f.options[0].value : f.type === "yes_no" ? true
        : ["number", "whole_number", "money"].indexOf(f.type) >= 0 ? 0 : emptyAllowed ? "" : "-";
      D.rerender();
    }, name + "-add"));
    return D.h("div", {}, rows);
  }
  /* Who: the record's people, its person fields, the people of roles, users by name. */
  function recipients(action, key) {
    action[key] = action[key] || [];
    var people = PEOPLE.map(function (p) { return [p[0], D.t(p[1], p[2])]; });
    var fields = D.fieldsOf(D.model.record_type).filter(function (f) { return f.type === "person" || f.type === "people"; })
      .map(function (f) { return [{field: f.name}, D.t(f.title) || f.name]; });
    var roles = Object.keys(D.context.roles).map(function (r) { return [{role: r}, D.t(D.context.roles[r].title) || r]; });
    var known = people.concat(fields).concat(roles).map(function (i) { return JSON.stringify(i[0]); });
    var users = action[key].filter(function (x) { return x && x.user; }).map(function (x) { return x.user; });
    var others = action[key].filter(function (x) { return !(x && x.user) && known.indexOf(JSON.stringify(x)) < 0; });
    function set(list) { action[key] = list; }
    return D.h("div", {dataset: {recipients: key}}, [
      checks(D.t("To", "发给"), people, action, key, set, key),
      fields.length ? checks(D.t("The person in", "字段中的人"), fields, action, key, set, key + "-field") : null,
      checks(D.t("The people of the role", "角色的人"), roles, action, key, set, key + "-role"),
      D.input(D.t("Users by name (comma separated)", "指定用户名(逗号分隔)"), {v: users.join(",")}, "v", {name: key + "-users", change: function (raw) {
        var named = raw.split(",").map(function (u) { return u.trim(); }).filter(Boolean).map(function (u) { return {user: u}; });
        action[key] = action[key].filter(function (x) { return !(x && x.user); }).concat(named);
      }}),
      others.length ? D.h("code", {}, [JSON.stringify(others)]) : null
    ]);
  }
  function textPair(obj, key, label) {  /* a text in both languages, left out when both are empty */
    var box = D.titleInputs(obj, key, label);
    box.addEventListener("input", function () { if (obj[key] && !obj[key].en && !obj[key].zh) { delete obj[key]; } });
    return box;
  }

  function triggerBox(trigger) {
    var on = trigger.on;
    var parts = [D.select(D.t("When", "当"), pick(TRIGGERS), on, function (v) {
      Object.keys(trigger).forEach(function (k) { delete trigger[k]; });
      trigger.on = v;
      if (v === "state_entered") { trigger.state = (flow().states[0] || {}).name; }
      if (v === "field_changed") { trigger.field = (D.fieldsOf(D.model.record_type)[0] || {}).name; }
      if (v === "schedule") { trigger.cron = "0 8 * * 1"; }
      D.rerender();
    }, "trigger")];
    if (on === "updated") {
      parts.push(checks(D.t("Only when one of these changes (none: any)", "仅当以下字段之一变化(不选:任意)"),
        fieldOptions(D.model.record_type), trigger, "fields", function (list) { if (list.length) { trigger.fields = list; } else { delete trigger.fields; } }, "trigger-fields"));
    }
    if (on === "state_entered") {
      parts.push(D.select(D.t("State", "状态"), flow().states.map(function (s) { return [s.name, D.t(s.title) || s.name]; }), trigger.state,
        function (v) { trigger.state = v; }, "trigger-state"));
    }
    if (on === "field_changed") {
      var field = D.fieldsOf(D.model.record_type).filter(function (f) { return f.name === trigger.field; })[0];
      parts.push(D.select(D.t("Field", "字段"), fieldOptions(D.model.record_type), trigger.field,
        function (v) { trigger.field = v; delete trigger.from; delete trigger.to; D.rerender(); }, "trigger-field"));
      parts.push(D.h("label", {className: "itpm-d-input"}, [D.h("span", {}, [D.t("from (any)", "从(任意)")]), typedInput(trigger, "from", field, "trigger-from")]));
      parts.push(D.h("label", {className: "itpm-d-input"}, [D.h("span", {}, [D.t("to (any)", "到(任意)")]), typedInput(trigger, "to", field, "trigger-to")]));
    }
    if (on === "approval_decided") {
      parts.push(D.select(D.t("Decision", "结果"), [["", D.t("either", "任一")], ["approved", D.t("approved", "批准")], ["rejected", D.t("rejected", "驳回")]],
        trigger.decision || "", function (v) { if (v) { trigger.decision = v; } else { delete trigger.decision; } }, "trigger-decision"));
      parts.push(D.select(D.t("Of the transition", "转换"), [["", D.t("any", "任一")]].concat(flow().transitions.filter(function (t) { return t.approval; })
        .map(function (t) { return [t.name, D.t(t.title) || t.name]; })), trigger.transition || "",
        function (v) { if (v) { trigger.transition = v; } else { delete trigger.transition; } }, "trigger-transition"));
    }
    if (on === "schedule") {
      parts.push(D.input(D.t("When (cron: minute hour day month weekday)", "时间(cron:分 时 日 月 周)"), trigger, "cron", {name: "trigger-cron", placeholder: "0 8 * * 1"}));
      parts.push(D.input(D.t("Time zone", "时区"), trigger, "time_zone", {name: "trigger-time-zone", placeholder: "Asia/Shanghai"}));
    }
    if (on === "forecast_flagged") {
      parts.push(checks(D.t("Only these flags (none: any)", "仅这些标记(不选:任意)"), pick(FLAGS), trigger, "flags",
        function (list) { if (list.length) { trigger.flags = list; } else { delete trigger.flags; } }, "trigger-flag"));
    }
    return D.h("div", {className: "itpm-d-row", id: "itpm-d-trigger"}, parts);
  }

  function fresh(kind) {
    var roles = Object.keys(D.context.roles), reports = Object.keys(D.context.reports || {});
    var types = Object.keys(D.context.record_types);
    return {
      notify: {do: "notify", to: ["creator"], subject: {en: "", zh: ""}},
      set: {do: "set", fields: {}},
      assign: {do: "assign", team: Object.keys(D.context.teams || {})[0]},
      comment: {do: "comment", text: {en: "", zh: ""}},
      create: {do: "create", record_type: types.indexOf("task") >= 0 ? "task" : types[0], data: {}},
      webhook: {do: "webhook", url: "https://"},
      report: {do: "report", report: reports[0], to: roles.length ? [{role: roles[0]}] : ["owner"]},
      transition: {do: "transition", name: (flow().transitions[0] || {}).name}
    }[kind];
  }

  function settings(action) {
    var body = [];
    var teams = Object.keys(D.context.teams || {}).map(function (t) { return [t, D.t(D.context.teams[t]) || t]; });
    if (action.do === "notify") {
      body.push(recipients(action, "to"));
      body.push(D.titleInputs(action, "subject", D.t("Subject", "主题")));
      body.push(textPair(action, "body", D.t("Message", "内容")));
      body.push(checks(D.t("By (none: in the app and by e-mail)", "渠道(不选:站内与邮件)"), [["app", D.t("in the app", "站内")], ["email", D.t("e-mail", "邮件")]],
        action, "channels", function (list) { if (list.length) { action.channels = list; } else { delete action.channels; } }, "channel"));
    } else if (action.do === "set") {
      action.fields = action.fields || {};
      body.push(valuesBox(action.fields, D.model.record_type, "set", true));
    } else if (action.do === "assign") {
      body.push(D.h("div", {className: "itpm-d-row"}, [
        D.select(D.t("Team", "团队"), [["", "—"]].concat(teams), action.team || "", function (v) { if (v) { action.team = v; } else { delete action.team; } }, "assign-team"),
        D.select(D.t("To whom", "分派给谁"), pick(STRATEGIES), action.strategy || "", function (v) {
          if (v) { action.strategy = v; } else { delete action.strategy; }
          if (v !== "skills") { delete action.skills_from; }
          D.rerender();
        }, "assign-strategy"),
        action.strategy === "skills" ? D.select(D.t("Skill needed, from", "所需技能来自"), [["", "—"]].concat(fieldOptions(D.model.record_type)), action.skills_from || "",
          function (v) { if (v) { action.skills_from = v; } else { delete action.skills_from; } }, "assign-skills-from") : null
      ]));
      var choices = D.fieldsOf(D.model.record_type).filter(function (f) { return f.options; });
      body.push(D.select(D.t("The team by a field (the team above when it names none)", "按字段选团队(无对应时用上面的团队)"),
        [["", "—"]].concat(choices.map(function (f) { return [f.name, D.t(f.title) || f.name]; })), action.by ? action.by.field : "", function (v) {
          if (v) { action.by = {field: v, teams: {}}; } else { delete action.by; }
          D.rerender();
        }, "assign-by"));
      if (action.by) {
        var by = choices.filter(function (f) { return f.name === action.by.field; })[0];
        body.push(D.h("div", {className: "itpm-d-row"}, ((by && by.options) || []).map(function (o) {
          return D.select(D.t(o.en || String(o.value), o.zh || String(o.value)), [["", "—"]].concat(teams), action.by.teams[o.value] || "",
            function (v) { if (v) { action.by.teams[o.value] = v; } else { delete action.by.teams[o.value]; } }, "assign-by-" + o.value);
        })));
      }
    } else if (action.do === "comment") {
      body.push(D.titleInputs(action, "text", D.t("Comment", "评论")));
    } else if (action.do === "create") {
      action.data = action.data || {};
      var links = D.fieldsOf(action.record_type).filter(function (f) { return f.type === "reference" && f.ref === D.model.record_type; });
      body.push(D.h("div", {className: "itpm-d-row"}, [
        D.select(D.t("A record of", "记录类型"), Object.keys(D.context.record_types).map(function (n) { return [n, D.t(D.context.record_types[n].title) || n]; }),
          action.record_type, function (v) { action.record_type = v; action.data = {}; delete action.link; D.rerender(); }, "create-type"),
        D.select(D.t("Its field that refers back here", "其回指本记录的字段"), [["", "—"]].concat(links.map(function (f) { return [f.name, D.t(f.title) || f.name]; })),
          action.link || "", function (v) { if (v) { action.link = v; } else { delete action.link; } }, "create-link")
      ]));
      body.push(D.h("p", {className: "help-block"}, [D.t("Values may name this record's fields: {title}, {number}, {link}, {project}…",
        "值中可引用本记录的字段:{title}、{number}、{link}、{project}…")]));
      body.push(valuesBox(action.data, action.record_type, "create", true));
    } else if (action.do === "webhook") {
      body.push(D.h("div", {className: "itpm-d-row"}, [
        D.input("URL", action, "url", {name: "webhook-url", placeholder: "https://"}),
        D.select(D.t("Kind", "类型"), pick(CHATS), action.chat || "", function (v) {
          if (v) { action.chat = v; action.subject = action.subject || {en: "{number}", zh: "{number}"}; }
          else { delete action.chat; delete action.subject; delete action.body; delete action.lang; }
          D.rerender();
        }, "webhook-chat"),
        D.input(D.t("Signing secret: environment variable", "签名密钥所在环境变量"), action, "secret_env", {name: "webhook-secret-env", placeholder: "ITPM_WEBHOOK_SECRET"})
      ]));
      if (action.chat) {
        body.push(D.select(D.t("Language of the message", "消息语言"), pick(LANGS), action.lang || "", function (v) { if (v) { action.lang = v; } else { delete action.lang; } }, "webhook-lang"));
        body.push(D.titleInputs(action, "subject", D.t("Title", "标题")));
        body.push(textPair(action, "body", D.t("Message", "内容")));
      }
    } else if (action.do === "report") {
      var reports = D.context.reports || {};
      body.push(D.h("div", {className: "itpm-d-row"}, [
        D.select(D.t("Report", "报告"), Object.keys(reports).map(function (r) { return [r, D.t(reports[r].title) || r]; }), action.report,
          function (v) { action.report = v; }, "report-name"),
        D.select(D.t("Language when nobody is named", "无收件人时的语言"), pick(LANGS), action.lang || "", function (v) { if (v) { action.lang = v; } else { delete action.lang; } }, "report-lang")
      ]));
      body.push(recipients(action, "to"));
      action.params = action.params || {};
      body.push(D.h("div", {}, [D.h("strong", {}, [D.t("Parameters ({id}: this record; {previous_month}, {this_month})", "参数({id}:本记录;{previous_month}、{this_month})")])]
        .concat(Object.keys(action.params).map(function (k) {
          return D.h("div", {className: "itpm-d-row", dataset: {param: k}}, [D.h("code", {}, [k]), D.input("", action.params, k, {name: "report-param-" + k}),
            D.button("", function () { delete action.params[k]; D.rerender(); }, "btn-link", "fa-times")]);
        })).concat([paramAdder(action.params)])));
    } else if (action.do === "transition") {
      body.push(D.select(D.t("Transition", "转换"), flow().transitions.map(function (t) { return [t.name, D.t(t.title) || t.name]; }), action.name,
        function (v) { action.name = v; }, "transition-name"));
    } else {
      body.push(D.h("p", {className: "help-block"}, [D.t("Written in JSON (edit it in the JSON tab): ", "以 JSON 编写(请在 JSON 页签编辑):"), D.h("code", {}, [JSON.stringify(action)])]));
    }
    body.push(D.input(D.t("After (minutes; empty: at once)", "延后(分钟;留空:立即)"), {v: action.after ? action.after.minutes : ""}, "v", {type: "number", name: "after",
      change: function (raw) { if (raw) { action.after = {minutes: Number(raw)}; } else { delete action.after; } }}));
    return body;
  }

  function actionBox(action, index) {
    var actions = D.model.actions;
    var known = ACTIONS.map(function (a) { return a[0]; });
    var head = D.h("div", {className: "itpm-d-row"}, [
      D.h("strong", {}, [D.t("Then", "则") + " " + (index + 1)]),
      D.select("", pick(ACTIONS).concat(known.indexOf(action.do) < 0 ? [[action.do, action.do]] : []), action.do, function (v) {
        actions[index] = fresh(v);
        D.rerender();
      }, "action-do"),
      D.button("", function () { actions.splice(index, 1); D.rerender(); }, "btn-link", "fa-trash")]);
    return D.h("div", {className: "itpm-d-step", dataset: {action: String(index)}}, [head].concat(settings(action)));
  }

  function paramAdder(params) {
    var holder = {v: ""};
    return D.h("div", {className: "itpm-d-row"}, [D.input(D.t("A parameter's name", "参数名称"), holder, "v", {name: "report-param-add"}),
      D.button(D.t("Add parameter", "添加参数"), function () {
        if (/^[a-z][a-z0-9_]*$/.test(holder.v) && !(holder.v in params)) { params[holder.v] = ""; D.rerender(); }
      }, "btn-default", "fa-plus")]);
  }

  D.tidy = function (model) {  /* what was left empty is not said */
    (model.actions || []).forEach(function (a) {
      if (a.body && !a.body.en && !a.body.zh) { delete a.body; }
      if (a.params && !Object.keys(a.params).length) { delete a.params; }
    });
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
      D.select(D.t("Add action", "添加动作"), [["", "—"]].concat(pick(ACTIONS)), "", function (v) {
        if (v) { model.actions.push(fresh(v)); D.rerender(); }
      }, "action-add")
    ])]));
  };
})();
