// Small helps on every admin page; each page works without them.
// - A form, once submitted, cannot be submitted again by a second press
//   (its buttons are disabled until the next page, or until the browser
//   brings this page back from its history).
// - After a server-side error, focus moves to the first field marked invalid.
// - A form marked data-warn-unsaved asks before the page is left with changes
//   that were not saved.
(function () {
  "use strict";

  function buttonsOf(form) {
    var inside = Array.prototype.slice.call(form.querySelectorAll("button, input[type=submit]"));
    if (form.id) {
      var outside = document.querySelectorAll("[form='" + form.id + "']");
      inside = inside.concat(Array.prototype.slice.call(outside));
    }
    return inside;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-submitting") === "true") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-submitting", "true");
    // Disabled after the submit has collected the pressed button's value.
    window.setTimeout(function () {
      buttonsOf(form).forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });

  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-submitting]"), function (form) {
      form.removeAttribute("data-submitting");
      buttonsOf(form).forEach(function (button) {
        button.disabled = false;
      });
    });
  });

  var invalid = document.querySelector("[aria-invalid='true']");
  if (invalid && typeof invalid.focus === "function") {
    invalid.focus();
  }

  var watched = document.querySelectorAll("form[data-warn-unsaved]");
  var changed = false;
  Array.prototype.forEach.call(watched, function (form) {
    form.addEventListener("input", function () { changed = true; });
    form.addEventListener("submit", function () { changed = false; });
  });
  if (watched.length) {
    window.addEventListener("beforeunload", function (event) {
      if (changed) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }
})();
