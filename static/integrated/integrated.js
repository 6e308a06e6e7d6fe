// The chat of an integrated call: live over a websocket, written over HTTP.
// Read state: the caller's messages sent before the operator was last online show as read.
(function () {
  "use strict";
  const node = document.getElementById("chat-config");
  if (!node) return;
  const cfg = JSON.parse(node.textContent);
  const chat = document.getElementById("chat");
  const list = document.getElementById("messages");
  const form = document.getElementById("chat-form");
  const reason = document.getElementById("chat-reason");
  const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  const token = new URL(cfg.ws).searchParams.get("t");
  let readUntil = cfg.read_until ? new Date(cfg.read_until) : null;

  function markRead() {
    list.querySelectorAll('li[data-author="caller"]').forEach((li) => {
      li.dataset.read = readUntil && new Date(li.dataset.at) < readUntil ? "yes" : "no";
    });
  }
  function add(m) {
    if (list.querySelector(`[data-message="${m.id}"]`)) return;
    const li = document.createElement("li");
    li.dataset.message = m.id;
    li.dataset.author = m.author;
    li.dataset.at = m.at;
    li.append(document.createTextNode(m.text));
    if (m.photo) {
      const img = document.createElement("img");
      img.src = token ? `${m.photo}?t=${encodeURIComponent(token)}` : m.photo;
      img.alt = "";
      li.append(img);
    }
    list.append(li);
    markRead();
  }
  function connect() {
    const ws = new WebSocket(cfg.ws);
    ws.onopen = () => { chat.dataset.ws = "open"; };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === "chat") add(msg.message);
      else if (msg.type === "enabled") {
        chat.dataset.enabled = "yes";
        reason.hidden = true;
        if (form) form.hidden = false;
        const button = document.getElementById("enable");
        if (button) button.closest("form").remove();
      } else if (msg.type === "ended") {
        chat.dataset.live = "no";
        if (form) form.hidden = true;
      } else if (msg.type === "read") {
        readUntil = new Date(msg.until);
        markRead();
      }
    };
    ws.onclose = (e) => {
      chat.dataset.ws = "closed:" + e.code;
      if (e.code !== 4403) setTimeout(connect, 2000);
    };
    if (cfg.role === "operator") setInterval(() => { if (ws.readyState === 1) ws.send('{"type":"ping"}'); }, 20000);
  }
  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;  // one message at a time: the form is reset after each
      const r = await fetch(cfg.messages, { method: "POST", body: new FormData(form), headers: { "X-CSRFToken": csrf }, credentials: "same-origin" }).finally(() => { button.disabled = false; });
      const body = await r.json();
      const error = document.getElementById("chat-error");
      error.hidden = r.ok;
      if (!r.ok) { error.textContent = body.error; return; }
      add(body);
      form.reset();
    });
  }
  markRead();
  connect();
})();
