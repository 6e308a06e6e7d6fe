// The operator's alert of a new integrated call or a new message from a caller: the integrated
// pages poll the operator's live calls and show what the operator has not seen yet (a banner
// with a link, the count in the tab's title, a system notification where the browser allows).
// What was seen is kept per tab (sessionStorage): call id -> id of the last caller message seen.
(function () {
  "use strict";
  const box = document.getElementById("integrated-alerts");
  if (!box) return;
  const KEY = "integrated-alerts-seen";
  const current = Number(box.dataset.call || 0);
  const title = document.title;
  const notified = new Set();  // one system notification per call and message
  const load = () => { try { return JSON.parse(sessionStorage.getItem(KEY) || "{}"); } catch (e) { return {}; } };
  const save = (seen) => sessionStorage.setItem(KEY, JSON.stringify(seen));
  const fill = (template, call) => template.replace("{caller}", call.caller);

  function notify(text) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try { new Notification(text); } catch (e) { /* some browsers allow it only from a worker */ }
  }
  function render(calls) {
    const seen = load();
    const live = new Set(calls.map((c) => String(c.id)));
    for (const id of Object.keys(seen)) if (!live.has(id)) delete seen[id];  // ended calls
    box.replaceChildren();
    let count = 0;
    for (const call of calls) {
      const known = seen[call.id];
      if (call.id === current) {  // this page shows the call and its chat: seen
        seen[call.id] = call.message;
        continue;
      }
      let text = "";
      if (known === undefined) text = fill(box.dataset.newCall, call);
      else if (call.message > known) text = fill(box.dataset.newMessage, call) + (call.text ? `: ${call.text}` : "");
      if (!text) continue;
      count += 1;
      const p = document.createElement("p");
      p.setAttribute("role", "alert");
      p.dataset.alertCall = call.id;
      const a = document.createElement("a");
      a.href = call.url;
      a.textContent = box.dataset.open;
      a.addEventListener("click", () => { const s = load(); s[call.id] = call.message; save(s); });
      p.append(text + " ", a);
      box.append(p);
      const key = `${call.id}:${call.message}`;
      if (!notified.has(key)) notify(text);
      notified.add(key);
    }
    save(seen);
    box.dataset.count = String(count);
    document.title = count ? `(${count}) ${title}` : title;
  }
  async function poll() {
    try {
      const r = await fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) render((await r.json()).calls);
    } catch (e) { /* the next poll tries again */ }
    setTimeout(poll, Number(box.dataset.interval || 4000));
  }
  const ask = document.getElementById("integrated-alerts-enable");
  if (ask && "Notification" in window && Notification.permission === "default") {
    ask.hidden = false;
    ask.addEventListener("click", () => Notification.requestPermission().then(() => { ask.hidden = true; }));
  }
  poll();
})();
