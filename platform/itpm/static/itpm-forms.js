/* itpm record forms: conditional fields, nested values (groups, lists, rows, named values),
 * pickers with type-ahead, rich text.
 *
 * Conditions are JSON Schema: the form's `when` and `required_when`, and the record
 * schema's own `if`/`then`/`else`, `dependentRequired`, `dependentSchemas` (the server
 * turns those into the same two attributes). They are evaluated here with the keywords
 * the definitions allow in a condition (itpm.records.forms.CONDITION_KEYWORDS), exactly
 * as the server's jsonschema evaluates them.
 */
(function (root) {
  "use strict";

  var has = function (object, key) { return Object.prototype.hasOwnProperty.call(object, key); };

  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

  function equal(a, b) {
    if (a === b) { return true; }
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) { return false; }
      for (var i = 0; i < a.length; i++) { if (!equal(a[i], b[i])) { return false; } }
      return true;
    }
    if (isObject(a) && isObject(b)) {
      var ka = Object.keys(a), kb = Object.keys(b);
      if (ka.length !== kb.length) { return false; }
      return ka.every(function (k) { return has(b, k) && equal(a[k], b[k]); });
    }
    return false;
  }

  function isNumber(v) { return typeof v === "number" && isFinite(v); }
  function length(s) { return Array.from(s).length; }  /* code points, as JSON Schema counts */

  function typeOk(type, v) {
    if (Array.isArray(type)) { return type.some(function (t) { return typeOk(t, v); }); }
    switch (type) {
      case "string": return typeof v === "string";
      case "number": return isNumber(v);
      case "integer": return isNumber(v) && Math.floor(v) === v;
      case "boolean": return typeof v === "boolean";
      case "array": return Array.isArray(v);
      case "object": return isObject(v);
      case "null": return v === null;
      default: return true;
    }
  }

  /* Whether `value` is valid against the schema `s` (the condition subset of JSON Schema). */
  function valid(s, value) {
    if (s === true || s === undefined) { return true; }
    if (s === false) { return false; }
    if (has(s, "type") && !typeOk(s.type, value)) { return false; }
    if (has(s, "const") && !equal(value, s["const"])) { return false; }
    if (s["enum"] && !s["enum"].some(function (c) { return equal(value, c); })) { return false; }
    if (isNumber(value)) {
      if (s.minimum !== undefined && value < s.minimum) { return false; }
      if (s.maximum !== undefined && value > s.maximum) { return false; }
      if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) { return false; }
      if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) { return false; }
    }
    if (typeof value === "string") {
      if (s.minLength !== undefined && length(value) < s.minLength) { return false; }
      if (s.maxLength !== undefined && length(value) > s.maxLength) { return false; }
      if (s.pattern !== undefined && !new RegExp(s.pattern, "u").test(value)) { return false; }
    }
    if (Array.isArray(value)) {
      if (s.minItems !== undefined && value.length < s.minItems) { return false; }
      if (s.maxItems !== undefined && value.length > s.maxItems) { return false; }
      if (s.items !== undefined && !value.every(function (v) { return valid(s.items, v); })) { return false; }
      if (s.contains !== undefined && !value.some(function (v) { return valid(s.contains, v); })) { return false; }
    }
    if (isObject(value)) {
      var props = s.properties || {};
      for (var name in props) {
        if (has(props, name) && has(value, name) && !valid(props[name], value[name])) { return false; }
      }
      var required = s.required || [];
      for (var i = 0; i < required.length; i++) { if (!has(value, required[i])) { return false; } }
    }
    if (s.allOf && !s.allOf.every(function (c) { return valid(c, value); })) { return false; }
    if (s.anyOf && !s.anyOf.some(function (c) { return valid(c, value); })) { return false; }
    if (s.oneOf && s.oneOf.filter(function (c) { return valid(c, value); }).length !== 1) { return false; }
    if (s.not !== undefined && valid(s.not, value)) { return false; }
    return true;
  }

  function isEmpty(v) {
    return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);
  }

  /* Whether `condition` holds for `values` (absent and empty values are left out, as on the server). */
  function holds(condition, values) {
    if (!condition) { return true; }
    var present = {};
    Object.keys(values).forEach(function (k) { if (!isEmpty(values[k])) { present[k] = values[k]; } });
    return valid(condition, present);
  }

  root.itpmConditions = {holds: holds, valid: valid};
  if (typeof document === "undefined") { return; }

  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  /* The direct child nodes of a group: nodes inside it, but not inside a nested node. */
  function childNodes(container) {
    return Array.prototype.filter.call(container.querySelectorAll(".itpm-node"), function (n) {
      var parent = n.parentElement.closest(".itpm-node, .itpm-entry, .itpm-rows, form");
      return parent === container;
    });
  }

  /* The JSON value a node's inputs hold now (as the server will read it). */
  function nodeValue(node) {
    var kind = node.getAttribute("data-kind");
    var name = node.getAttribute("data-name");
    if (kind === "object") {
      var result = {};
      childNodes(node).forEach(function (child) {
        var v = nodeValue(child);
        if (!isEmpty(v)) { result[child.getAttribute("data-key")] = v; }
      });
      var named = node.querySelector(":scope > fieldset > .itpm-rows");
      if (named) {
        rowsOf(named).forEach(function (row) {
          var entry = row.querySelector(".itpm-node[data-kind=entry]");
          var key = entry.querySelector(".itpm-entry-key").value.trim();
          var valueNode = childNodes(entry)[0];
          if (key && valueNode) { result[key] = nodeValue(valueNode); }
        });
      }
      return Object.keys(result).length ? result : null;
    }
    if (kind === "rows") {
      var rows = node.querySelector(":scope > .itpm-rows");
      return rowsOf(rows).map(function (row) { return nodeValue(row.querySelector(".itpm-node")); })
        .filter(function (v) { return !isEmpty(v); });
    }
    if (kind === "checkboxes") {
      return Array.prototype.filter.call(node.querySelectorAll("input[type=checkbox]"), function (i) { return i.checked; })
        .map(function (i) { return i.value; });
    }
    var input = node.querySelector("[name='" + name + "']:not([type=hidden])") || node.querySelector("[name='" + name + "']");
    if (!input) { return null; }
    if (kind === "checkbox") { return input.checked; }
    var raw = input.value;
    if (raw === "") { return null; }
    if (kind === "yesno") { return raw === "yes"; }
    if (kind === "integer" || kind === "number") { var n = Number(raw); return isNaN(n) ? raw : n; }
    if (kind === "json" || kind === "fixed") { try { return JSON.parse(raw); } catch (e) { return raw; } }
    return typed(node, raw);
  }

  function rowsOf(rows) {
    return Array.prototype.slice.call(rows.querySelector(":scope > .itpm-row-list").children);
  }

  function entryValue(entry) {
    var widget = entry.getAttribute("data-widget");
    var inputs = entry.querySelectorAll("input, select, textarea");
    var structured = entry.querySelector(".itpm-node");
    if (widget === "structured" && structured) { return nodeValue(structured); }
    if (widget === "checkbox") {
      var box = entry.querySelector("input[type=checkbox]");
      return box ? box.checked : null;
    }
    if (widget === "checkboxes") {
      return Array.prototype.filter.call(inputs, function (i) { return i.checked; }).map(function (i) { return i.value; });
    }
    if (widget === "radio") {
      var chosen = entry.querySelector("input[type=radio]:checked");
      return chosen ? typed(entry, chosen.value) : null;
    }
    var field = entry.querySelector("[name='" + entry.getAttribute("data-field") + "']");
    if (!field) { return null; }
    if (field.tagName === "SELECT" && field.multiple) {
      return Array.prototype.filter.call(field.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
    }
    var raw = field.value;
    if (raw === "") { return null; }
    if (widget === "yesno") { return raw === "yes"; }
    if (["integer", "number", "money", "percent", "reference", "user"].indexOf(widget) >= 0) {
      var n = Number(raw);
      return isNaN(n) ? raw : n;
    }
    return typed(entry, raw);
  }

  /* A choice's value with its type (data-choices holds the JSON values of a select's options). */
  function typed(element, raw) {
    var choices = element.getAttribute("data-choices");
    if (!choices) { return raw; }
    var found = JSON.parse(choices).filter(function (c) { return String(c) === raw || (typeof c === "boolean" && (c ? "True" : "False") === raw); });
    return found.length ? found[0] : raw;
  }

  /* Show, hide and mark required the entries of a group by its conditions, on the group's values. */
  function applyConditions(items, values) {
    items.forEach(function (item) {
      var when = item.getAttribute("data-when");
      var shown = when ? holds(JSON.parse(when), values) : true;
      item.hidden = !shown;
      item.classList.toggle("itpm-hidden", !shown);
      var requiredWhen = item.getAttribute("data-required-when");
      if (requiredWhen) {
        item.classList.toggle("itpm-required", shown && holds(JSON.parse(requiredWhen), values));
      }
    });
  }

  function refresh(form) {
    var entries = Array.prototype.slice.call(form.querySelectorAll(".itpm-entry"));
    var values = {};
    entries.forEach(function (e) { values[e.getAttribute("data-field")] = entryValue(e); });
    applyConditions(entries, values);
    each(form.querySelectorAll(".itpm-node[data-kind=object]"), function (group) {
      var children = childNodes(group);
      var groupValues = {};
      children.forEach(function (c) { groupValues[c.getAttribute("data-key")] = nodeValue(c); });
      applyConditions(children, groupValues);
    });
    each(form.querySelectorAll(".itpm-rows"), function (rows) {
      var count = rowsOf(rows).length;
      var max = rows.getAttribute("data-max");
      var add = rows.querySelector(":scope > .itpm-row-add");
      if (add) { add.disabled = max !== null && count >= Number(max); }
    });
  }

  /* A new row from the template: its number token replaced by a fresh number in every name and id. */
  function addRow(rows) {
    var template = rows.querySelector(":scope > template.itpm-row-template");
    var token = rows.getAttribute("data-token");
    var number = Number(rows.getAttribute("data-next") || "0");
    rows.setAttribute("data-next", String(number + 1));
    var fresh = document.importNode(template.content, true);
    renumber(fresh, token, String(number));
    rows.querySelector(":scope > .itpm-row-list").appendChild(fresh);
    var list = rows.querySelector(":scope > .itpm-row-list");
    var added = list.lastElementChild;
    var first = added && added.querySelector("input:not([type=hidden]), select, textarea");
    if (first) { first.focus(); }
  }

  function renumber(fragment, token, number) {
    each(fragment.querySelectorAll("[name], [id], [for], [data-name]"), function (el) {
      ["name", "id", "for", "data-name"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v && v.indexOf(token) >= 0) { el.setAttribute(attr, v.split(token).join(number)); }
      });
    });
    each(fragment.querySelectorAll("template"), function (inner) { renumber(inner.content, token, number); });
  }

  function rowAction(button) {
    var row = button.closest(".itpm-row");
    if (button.classList.contains("itpm-row-remove")) {
      row.parentNode.removeChild(row);
    } else if (button.classList.contains("itpm-row-up") && row.previousElementSibling) {
      row.parentNode.insertBefore(row, row.previousElementSibling);
    } else if (button.classList.contains("itpm-row-down") && row.nextElementSibling) {
      row.parentNode.insertBefore(row.nextElementSibling, row);
    }
  }

  function richText(box) {
    var area = box.querySelector(".itpm-richtext-area");
    var input = document.getElementById(box.getAttribute("data-target"));
    area.addEventListener("input", function () { input.value = area.innerHTML; input.dispatchEvent(new Event("change", {bubbles: true})); });
    each(box.querySelectorAll("[data-command]"), function (button) {
      button.addEventListener("click", function () {
        area.focus();
        document.execCommand(button.getAttribute("data-command"), false, null);
        input.value = area.innerHTML;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("itpm-record-form");
    if (!form) { return; }
    each(form.querySelectorAll(".itpm-richtext"), richText);
    if (root.jQuery && root.jQuery.fn.select2) {
      var $ = root.jQuery;
      $(form).find(".itpm-select2").select2({width: "100%"});
      $(form).find(".itpm-picker").each(function () {
        var picker = $(this);
        picker.select2({
          width: "100%",
          allowClear: !picker.prop("multiple"),
          placeholder: picker.data("placeholder") || "",
          minimumInputLength: 0,
          ajax: {
            url: picker.data("lookup"),
            dataType: "json",
            delay: 200,
            data: function (params) { return {q: params.term || ""}; },
            processResults: function (data) { return {results: data.results}; }
          }
        });
      });
      $(form).on("change", "select", function () { refresh(form); });
    }
    form.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button || !form.contains(button)) { return; }
      if (button.classList.contains("itpm-row-add")) {
        addRow(button.closest(".itpm-rows"));
      } else if (button.closest(".itpm-row-tools")) {
        rowAction(button);
      } else {
        return;
      }
      refresh(form);
    });
    form.addEventListener("input", function () { refresh(form); });
    form.addEventListener("change", function () { refresh(form); });
    refresh(form);
    var firstError = form.querySelector(".has-error input:not([type=hidden]), .has-error select, .has-error textarea");
    if (firstError) { firstError.focus(); }
  });
})(typeof window !== "undefined" ? window : globalThis);
