// kluis dashboard: live updates over Server-Sent Events, nothing else.
// When the vault's audit log moves (a new request, a read, a revocation...), the
// server sends an event; this script re-fetches the current page's <main> and
// swaps it in, unless the owner is in the middle of editing a form there.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var status = document.getElementById("live-status");
  if (!main || !window.EventSource) { return; }
  var dirty = false;
  main.addEventListener("input", function () { dirty = true; });
  main.addEventListener("change", function () { dirty = true; });

  function busy() {
    var el = document.activeElement;
    return dirty || (el && main.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function setBadges(badges) {  // true if a count changed
    var changed = false;
    Object.keys(badges || {}).forEach(function (path) {
      var el = document.querySelector('[data-badge="' + path + '"]');
      if (!el) { return; }
      var n = badges[path];
      if (el.firstChild.nodeValue !== String(n)) { changed = true; }
      el.firstChild.nodeValue = String(n);
      el.hidden = !n;
    });
    return changed;
  }

  function announce(text, offerReload) {
    status.textContent = text;
    if (offerReload) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = "Show";
      b.addEventListener("click", function () { dirty = false; refresh(true); });
      status.appendChild(b);
    }
  }

  function refresh(force) {
    if (!force && busy()) { announce("New activity in your vault.", true); return; }
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    fetch(url.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected) { window.location.reload(); return Promise.reject("session ended"); }
        return r.ok ? r.text() : Promise.reject(r.status);
      })
      .then(function (html) {
        if (!force && busy()) { announce("New activity in your vault.", true); return; }
        // keep the confirmation messages of the owner's last action across the swap
        var kept = Array.prototype.slice.call(main.querySelectorAll(".flash"));
        main.innerHTML = html;
        var heading = main.querySelector("h1");
        kept.reverse().forEach(function (el) {
          if (heading) { heading.insertAdjacentElement("afterend", el); } else { main.prepend(el); }
        });
        dirty = false;
        status.textContent = "";
        main.dispatchEvent(new CustomEvent("kluis:updated", { bubbles: true }));
      })
      .catch(function () { announce("Could not refresh; reload the page.", false); });
  }

  var source = new EventSource("/events");
  // On (re)connecting, fetch the page again if a count moved: the poller counts changes
  // from the head it saw when this stream joined, so a request that arrived between the
  // page's render and that moment would otherwise never show.
  source.addEventListener("hello", function (e) {
    if (setBadges(JSON.parse(e.data).badges)) { refresh(false); }
  });
  source.addEventListener("change", function (e) {
    var data = JSON.parse(e.data);
    setBadges(data.badges);
    if (data.kinds.indexOf("access.request") >= 0 && window.location.pathname !== "/requests") {
      announce("A business asked for access.", false);
      var a = document.createElement("a");
      a.href = "/requests"; a.textContent = " Review";
      status.appendChild(a);
      return;
    }
    refresh(false);
  });
  source.onerror = function () { /* the browser reconnects by itself (retry: 2 s) */ };
})();
