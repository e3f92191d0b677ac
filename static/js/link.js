// Link pages: copy buttons and the live account status. Everything works without it; this only
// saves a reload. No inline script anywhere (CSP script-src 'self').
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent.trim();
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = button.dataset.done;
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });

  var panel = document.getElementById("status");
  if (!panel || panel.dataset.done === "true") return;
  var message = document.getElementById("status-message");
  var timer = setInterval(refresh, 3000);

  function refresh() {
    fetch(panel.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { clearInterval(timer); return null; }
        return response.json();
      })
      .then(function (data) {
        if (!data) return;
        data.accounts.forEach(function (account) {
          var badge = panel.querySelector('[data-account="' + account.id + '"] .badge');
          if (badge && badge.textContent !== account.label) {
            badge.textContent = account.label;
            badge.className = "badge badge-" + account.status;
          }
        });
        if (data.done) {
          message.textContent = data.message;
          clearInterval(timer);
          // One main action at a time: QuickBooks is done with, the completion screen is next.
          var open = document.getElementById("open-qbo");
          var next = document.getElementById("status-next");
          if (open) open.hidden = true;
          if (next) next.hidden = false;
        }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }
})();
