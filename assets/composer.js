// The composer without page jumps; every part works without this script.
// - Back at the item just moved, focus returns to the button that moved it,
//   so "Move down" can be pressed again from the keyboard.
// - Items can be dragged to a new place (by their handle); the drop submits
//   the page's form with the new position, so the intro goes with it.
// - Enter in a new item's field adds the item (the page's default button
//   would only save the draft).
(function () {
  "use strict";

  var draft = document.getElementById("draft");
  var list = document.querySelector("ol.items[data-move-url]");
  var FOCUS_KEY = "herald-composer-focus";

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-move]");
    if (button) {
      try { window.sessionStorage.setItem(FOCUS_KEY, button.getAttribute("data-move")); } catch (e) { /* private mode */ }
    }
  });

  var match = /^#item-(\d+)$/.exec(window.location.hash);
  if (match && !document.querySelector("[aria-invalid='true']")) {
    var item = document.getElementById("item-" + match[1]);
    var wanted = null;
    try {
      wanted = window.sessionStorage.getItem(FOCUS_KEY);
      window.sessionStorage.removeItem(FOCUS_KEY);
    } catch (e) { /* private mode */ }
    if (item) {
      var target = (wanted && item.querySelector("button[data-move='" + wanted + "']")) ||
        item.querySelector("button");
      var focusItem = function () {
        if (target && document.activeElement !== target) {
          target.focus();
          item.scrollIntoView({ block: "center" });
        }
      };
      focusItem();
      // The browser's own scroll to the fragment comes at load; keep the focus.
      window.addEventListener("load", focusItem);
    }
  }

  if (draft) {
    // Fields outside the form element (the new item's) belong to it through
    // their form attribute, but their input events do not pass through it:
    // tell the form, so leaving the page with them typed asks first.
    Array.prototype.forEach.call(document.querySelectorAll("[form='draft']"), function (field) {
      field.addEventListener("input", function () {
        draft.dispatchEvent(new Event("input"));
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[form='draft']"), function (input) {
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          var add = document.querySelector("button[formaction$='/items'][form='draft']");
          if (add) { add.click(); }
        }
      });
    });
  }

  if (!draft || !list || typeof draft.requestSubmit !== "function") {
    return;
  }

  function submitPlace(itemId, position) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "position";
    input.value = String(position);
    draft.appendChild(input);
    var button = document.createElement("button");
    button.type = "submit";
    button.hidden = true;
    button.formAction = list.getAttribute("data-move-url").replace("ITEM", itemId);
    button.formNoValidate = true;
    draft.appendChild(button);
    draft.requestSubmit(button);
  }

  var dragged = null;
  // Where the dragged item stood, to put it back when it is dropped elsewhere.
  var home = null;
  var dropped = false;
  Array.prototype.forEach.call(list.querySelectorAll("li[data-item]"), function (li) {
    var handle = document.createElement("span");
    handle.className = "drag-handle";
    handle.setAttribute("aria-hidden", "true");
    handle.title = "Drag to reorder (or use Move up and Move down)";
    handle.textContent = "⠿";
    var head = li.querySelector(".item-head");
    head.insertBefore(handle, head.firstChild);
    handle.addEventListener("mousedown", function () { li.draggable = true; });
    handle.addEventListener("mouseup", function () { li.draggable = false; });
    li.addEventListener("dragstart", function (event) {
      dragged = li;
      home = li.nextSibling;
      dropped = false;
      li.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", li.getAttribute("data-item"));
    });
    li.addEventListener("dragend", function () {
      if (!dropped) {
        list.insertBefore(li, home);
      }
      li.draggable = false;
      li.classList.remove("dragging");
      dragged = null;
    });
    li.addEventListener("dragover", function (event) {
      if (dragged && dragged !== li) {
        event.preventDefault();
        var box = li.getBoundingClientRect();
        var after = event.clientY > box.top + box.height / 2;
        list.insertBefore(dragged, after ? li.nextSibling : li);
      }
    });
  });
  list.addEventListener("dragover", function (event) {
    if (dragged) { event.preventDefault(); }
  });
  list.addEventListener("drop", function (event) {
    if (!dragged) { return; }
    event.preventDefault();
    dropped = true;
    var items = Array.prototype.slice.call(list.querySelectorAll("li[data-item]"));
    var position = items.indexOf(dragged) + 1;
    submitPlace(dragged.getAttribute("data-item"), position);
  });
})();
