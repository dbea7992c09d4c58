/* itpm record forms: conditional fields, pickers with type-ahead, rich text.
 *
 * Conditions are the subset of JSON Schema the form meta-schema allows
 * (properties with const, enum, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, minLength, maxLength, not; required; allOf; anyOf; not),
 * evaluated here exactly as the server's jsonschema evaluates them.
 */
(function (root) {
  "use strict";

  function equal(a, b) {
    if (a === b) { return true; }
    if (typeof a === "number" && typeof b === "number") { return a === b; }
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) { return false; }
      for (var i = 0; i < a.length; i++) { if (!equal(a[i], b[i])) { return false; } }
      return true;
    }
    if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
      var ka = Object.keys(a), kb = Object.keys(b);
      if (ka.length !== kb.length) { return false; }
      return ka.every(function (k) { return Object.prototype.hasOwnProperty.call(b, k) && equal(a[k], b[k]); });
    }
    return false;
  }

  function isNumber(v) { return typeof v === "number" && isFinite(v); }
  function length(s) { return Array.from(s).length; }  /* code points, as JSON Schema counts */

  function testValue(test, value) {
    if (Object.prototype.hasOwnProperty.call(test, "const") && !equal(value, test["const"])) { return false; }
    if (test["enum"] && !test["enum"].some(function (c) { return equal(value, c); })) { return false; }
    if (isNumber(value)) {
      if (test.minimum !== undefined && value < test.minimum) { return false; }
      if (test.maximum !== undefined && value > test.maximum) { return false; }
      if (test.exclusiveMinimum !== undefined && value <= test.exclusiveMinimum) { return false; }
      if (test.exclusiveMaximum !== undefined && value >= test.exclusiveMaximum) { return false; }
    }
    if (typeof value === "string") {
      if (test.minLength !== undefined && length(value) < test.minLength) { return false; }
      if (test.maxLength !== undefined && length(value) > test.maxLength) { return false; }
    }
    if (test.not && testValue(test.not, value)) { return false; }
    return true;
  }

  /* Whether `condition` holds for `values` (absent and empty values are left out). */
  function holds(condition, values) {
    if (!condition) { return true; }
    var present = {};
    Object.keys(values).forEach(function (k) {
      var v = values[k];
      if (v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0)) { present[k] = v; }
    });
    return check(condition, present);
  }

  function check(condition, present) {
    var props = condition.properties || {};
    for (var name in props) {
      if (Object.prototype.hasOwnProperty.call(present, name) && !testValue(props[name], present[name])) { return false; }
    }
    var required = condition.required || [];
    for (var i = 0; i < required.length; i++) {
      if (!Object.prototype.hasOwnProperty.call(present, required[i])) { return false; }
    }
    if (condition.allOf && !condition.allOf.every(function (c) { return check(c, present); })) { return false; }
    if (condition.anyOf && !condition.anyOf.some(function (c) { return check(c, present); })) { return false; }
    if (condition.not && check(condition.not, present)) { return false; }
    return true;
  }

  root.itpmConditions = {holds: holds};
  if (typeof document === "undefined") { return; }

  function entryValue(entry) {
    var widget = entry.getAttribute("data-widget");
    var inputs = entry.querySelectorAll("input, select, textarea");
    if (widget === "checkbox") {
      var box = entry.querySelector("input[type=checkbox]");
      return box ? box.checked : null;
    }
    if (widget === "checkboxes") {
      return Array.prototype.filter.call(inputs, function (i) { return i.checked; }).map(function (i) { return i.value; });
    }
    if (widget === "radio") {
      var chosen = entry.querySelector("input[type=radio]:checked");
      return chosen ? chosen.value : null;
    }
    var field = entry.querySelector("[name='" + entry.getAttribute("data-field") + "']");
    if (!field) { return null; }
    if (field.tagName === "SELECT" && field.multiple) {
      return Array.prototype.filter.call(field.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
    }
    var raw = field.value;
    if (raw === "") { return null; }
    if (["integer", "number", "money", "percent", "reference", "user"].indexOf(widget) >= 0) {
      var n = Number(raw);
      return isNaN(n) ? raw : n;
    }
    return raw;
  }

  function refresh(form) {
    var entries = form.querySelectorAll(".itpm-entry");
    var values = {};
    Array.prototype.forEach.call(entries, function (e) { values[e.getAttribute("data-field")] = entryValue(e); });
    Array.prototype.forEach.call(entries, function (e) {
      var when = e.getAttribute("data-when");
      var shown = when ? holds(JSON.parse(when), values) : true;
      e.hidden = !shown;
      e.classList.toggle("itpm-hidden", !shown);
      var requiredWhen = e.getAttribute("data-required-when");
      if (requiredWhen) {
        e.classList.toggle("itpm-required", shown && holds(JSON.parse(requiredWhen), values));
      }
    });
  }

  function richText(box) {
    var area = box.querySelector(".itpm-richtext-area");
    var input = document.getElementById(box.getAttribute("data-target"));
    area.addEventListener("input", function () { input.value = area.innerHTML; input.dispatchEvent(new Event("change", {bubbles: true})); });
    Array.prototype.forEach.call(box.querySelectorAll("[data-command]"), function (button) {
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
    Array.prototype.forEach.call(form.querySelectorAll(".itpm-richtext"), richText);
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
    form.addEventListener("input", function () { refresh(form); });
    form.addEventListener("change", function () { refresh(form); });
    refresh(form);
    var firstError = form.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (firstError) { firstError.focus(); }
  });
})(typeof window !== "undefined" ? window : globalThis);
