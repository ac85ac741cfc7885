// Keeps the send progress on an issue page current without reloading it: asks
// /admin/issues/{id}/progress every second while the send is going out or
// paused, copies the worded fields into the page, shows only the controls the
// new state allows, and stops once the send is over. Without script, the page
// reloads itself instead (a <noscript> refresh).
(function () {
  "use strict";

  var INTERVAL = 1000;
  var AFTER_ERROR = 5000;
  var FIELDS = ["heading", "summary", "ended_label", "total", "sent", "queued", "retrying",
    "failed", "cancelled", "percent", "rate", "time_left", "started", "finished", "pause_reason"];

  var section = document.getElementById("send-progress");
  if (!section || !window.fetch || section.getAttribute("data-live") !== "true") {
    return;
  }
  var url = section.getAttribute("data-url");

  function setText(name, value) {
    document.querySelectorAll('[data-field="' + name + '"]').forEach(function (element) {
      element.textContent = String(value);
    });
  }

  function showFailures(failures) {
    var box = section.querySelector("[data-show-failures]");
    var body = section.querySelector('[data-field="failures"]');
    if (!box || !body) {
      return;
    }
    body.textContent = "";
    failures.forEach(function (failure) {
      var row = document.createElement("tr");
      var who = document.createElement("td");
      // Subscriber pages are for admins: editors get the address alone.
      if (box.hasAttribute("data-link-subscribers")) {
        var link = document.createElement("a");
        link.href = "/admin/subscribers/" + encodeURIComponent(failure.subscriber_id);
        link.textContent = failure.email;
        who.appendChild(link);
      } else {
        who.textContent = failure.email;
      }
      row.appendChild(who);
      [failure.when, failure.reason].forEach(function (text) {
        var cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    box.hidden = failures.length === 0;
  }

  function show(progress) {
    FIELDS.forEach(function (name) { setText(name, progress[name]); });
    setText("status", progress.status);
    // Why a send paused itself; empty when an editor paused it or it is not paused.
    section.querySelectorAll('[data-field="pause_reason"]').forEach(function (element) {
      element.hidden = !progress.pause_reason;
    });
    section.querySelectorAll(".badge").forEach(function (badge) {
      badge.className = "badge badge-" + progress.status;
    });
    var bar = section.querySelector("progress");
    if (bar) {
      // A cancelled send fills only what went out; the class greys the rest.
      bar.value = progress.percent;
      bar.textContent = progress.percent + "%";
      bar.className = "bar-" + progress.status;
    }
    section.querySelectorAll("[data-show-when]").forEach(function (control) {
      var states = control.getAttribute("data-show-when").split(" ");
      control.hidden = states.indexOf(progress.status) < 0;
    });
    showFailures(progress.failures || []);
    section.setAttribute("data-live", progress.live ? "true" : "false");
  }

  function ask() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.redirected) {
          // The session ended: the page itself leads to the sign-in.
          window.location.reload();
          return null;
        }
        if (!response.ok) {
          throw new Error("progress answered " + response.status);
        }
        return response.json();
      })
      .then(function (progress) {
        if (!progress) {
          return;
        }
        show(progress);
        if (progress.live) {
          window.setTimeout(ask, INTERVAL);
        }
      })
      .catch(function () {
        window.setTimeout(ask, AFTER_ERROR);
      });
  }

  window.setTimeout(ask, INTERVAL);
})();
