// /observe/twins: swap in a fresh server rendering of the plant every two seconds (live pages only).
(function () {
  "use strict";
  var plant = document.getElementById("plant");
  var badge = document.getElementById("live");
  if (!plant || document.body.dataset.live !== "true") { return; }
  var busy = false;
  function mark(ok) {
    if (!badge) { return; }
    badge.textContent = ok ? "live" : "reconnecting";
    badge.className = ok ? "badge on" : "badge off";
  }
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch("/observe/twins-fragment", {cache: "no-store"})
      .then(function (resp) { if (!resp.ok) { throw new Error(String(resp.status)); } return resp.text(); })
      .then(function (text) { plant.innerHTML = text; mark(true); })
      .catch(function () { mark(false); })
      .then(function () { busy = false; });
  }
  mark(true);
  setInterval(refresh, 2000);
})();
