/* Behaviour every page shares. No inline handlers: the Content-Security-Policy refuses them. */
(function () {
  "use strict";
  // A <select data-autosubmit> sends its form when changed (the period and breakdown pickers).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });
})();
