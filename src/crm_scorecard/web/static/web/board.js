/* The affinity board: drag a comment card to another theme and it is saved at once.
   The same move is a form on every card (keyboard and no-JavaScript users); here a drop
   sends that form with fetch and keeps the page. All text is set with textContent. */
(function () {
  "use strict";

  function csrfToken() {
    var field = document.querySelector("#voc-board input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function say(text, isError) {
    var status = document.getElementById("voc-status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function bump(list, delta) {
    var column = list.closest(".voc-column");
    var count = column && column.querySelector(".voc-count");
    if (count) count.textContent = String(Number(count.textContent) + delta);
  }

  function putBack(evt) {
    var reference = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(evt.item, reference);
  }

  function moved(evt) {
    if (evt.from === evt.to) return;
    var card = evt.item;
    var target = evt.to.getAttribute("data-theme");
    var body = new FormData();
    body.append("theme", target);
    fetch(card.getAttribute("data-move-url"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return { ok: false, message: "Not saved (" + response.status + ")." };
          })
          .then(function (data) {
            if (!response.ok || !data.ok) throw new Error(data.message || "Not saved.");
            return data;
          });
      })
      .then(function (data) {
        bump(evt.from, -1);
        bump(evt.to, 1);
        var select = card.querySelector("select[name=theme]");
        if (select) select.value = target;
        say(data.message, false);
      })
      .catch(function (error) {
        putBack(evt);
        say(error.message, true);
      });
  }

  function start() {
    if (typeof window.Sortable === "undefined") return; // the forms still work
    var lists = document.querySelectorAll(".voc-cards[data-editable]");
    lists.forEach(function (list) {
      window.Sortable.create(list, {
        group: "voc-themes",
        animation: 120,
        filter: "select, button, a, input, label",
        preventOnFilter: false,
        ghostClass: "voc-ghost",
        chosenClass: "voc-chosen",
        sort: false, // a theme's cards are ordered by date; only moving between themes means something
        onEnd: moved,
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
