// The import form: the consent note shows (and is required) only while the
// consent box is ticked. Without this script it is always shown, and the
// server checks it.
(function () {
  "use strict";
  var box = document.getElementById("confirmed");
  var field = document.getElementById("consent-note-field");
  var note = document.getElementById("consent_note");
  if (!box || !field || !note) {
    return;
  }
  function sync() {
    field.hidden = !box.checked;
    note.required = box.checked;
  }
  box.addEventListener("change", sync);
  sync();
})();
