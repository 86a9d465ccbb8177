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

  // Downloads (a link or GET form with data-download="what to say while it is made"): a
  // board pack takes seconds, so the file is fetched here while the note beside the button
  // (data-download-note, a polite live region) says it is being prepared, then saved under
  // the name the server gave. Without JavaScript, or when anything goes wrong (a refusal,
  // an expired session), the browser simply opens the address, which shows the reason.
  function fileName(disposition) {
    var star = /filename\*=utf-8''([^;]+)/i.exec(disposition);
    if (star) {
      try { return decodeURIComponent(star[1]); } catch (e) { /* fall through */ }
    }
    var plain = /filename="((?:[^"\\]|\\.)*)"/.exec(disposition);
    return plain ? plain[1].replace(/\\(.)/g, "$1") : "download";
  }

  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }

  function download(trigger, url) {
    if (trigger.getAttribute("aria-busy") === "true") return;
    var group = trigger.closest("[data-downloads]");
    var note = group ? group.querySelector("[data-download-note]") : null;
    trigger.setAttribute("aria-busy", "true");
    if (note) note.textContent = trigger.getAttribute("data-download") || "Preparing…";
    function done() {
      trigger.removeAttribute("aria-busy");
      if (note) note.textContent = "";
    }
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        var disposition = response.headers.get("Content-Disposition") || "";
        if (!response.ok || response.redirected || disposition.indexOf("attachment") !== 0) {
          throw new Error("not a file");
        }
        return response.blob().then(function (blob) {
          save(blob, fileName(disposition));
          done();
        });
      })
      .catch(function () {
        done();
        window.location.assign(url);
      });
  }

  var canFetch = typeof window.fetch === "function" && window.URL && URL.createObjectURL;

  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a[data-download]") : null;
    if (!link || !canFetch || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) {
      return;  // a new tab or window: let the browser do it
    }
    event.preventDefault();
    download(link, link.href);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-download") || !canFetch) return;
    event.preventDefault();
    var query = new URLSearchParams(new FormData(form)).toString();
    download(form, form.action + (query ? "?" + query : ""));
  });
})();
