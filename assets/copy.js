// The copy button next to a secret shown once (a new API token). Without
// JavaScript the button stays hidden and the secret can be selected by hand.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var result = button.parentNode.querySelector(".copy-result");
    if (!source || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        if (result) { result.textContent = "Copied."; }
      }, function () {
        if (result) { result.textContent = "Could not copy: select the token and copy it by hand."; }
      });
    });
  });
})();
