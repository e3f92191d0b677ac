// Bank Transactions: after Update, linksite's worker pushes the feed's transactions a moment
// later. While the page says it is waiting, ask the server every 1.5 seconds whether any feed
// still is, then reload the page to show what came. Without JavaScript the Refresh link next to
// the status does the same. No inline script anywhere (CSP script-src 'self').
(function () {
  "use strict";

  var waiting = document.querySelector("[data-poll]");
  if (!waiting) return;
  var url = waiting.dataset.poll;
  var polls = 0;
  var timer = setInterval(poll, 1500);

  function poll() {
    polls += 1;
    if (polls > 80) { clearInterval(timer); return; } // the server stops waiting well before
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && Array.isArray(data.pending) && data.pending.length === 0) {
          clearInterval(timer);
          window.location.reload();
        }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }
})();
