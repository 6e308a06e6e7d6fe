// The chat of an integrated call: live over a websocket, written over HTTP.
// Read state: the caller's messages sent before the operator was last online show as read
// ("✓✓ прочитано", not only an attribute); every message says who wrote it and when.
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

  const text = cfg.text || {};
  const pad = (n) => String(n).padStart(2, "0");
  function markRead() {
    list.querySelectorAll('li[data-author="caller"]').forEach((li) => {
      const read = Boolean(readUntil && new Date(li.dataset.at) < readUntil);
      li.dataset.read = read ? "yes" : "no";
      let label = li.querySelector(".msg-read");
      if (!label) {
        label = document.createElement("span");
        label.className = "msg-read";
        li.append(label);
      }
      label.textContent = read ? `✓✓ ${text.read}` : `✓ ${text.sent}`;
    });
  }
  function add(m) {
    if (list.querySelector(`[data-message="${m.id}"]`)) return;
    const li = document.createElement("li");
    li.dataset.message = m.id;
    li.dataset.author = m.author;
    li.dataset.at = m.at;
    const mine = m.author === cfg.role;
    li.className = `msg msg-${m.author}` + (mine ? " msg-mine" : "");
    const head = document.createElement("span");
    head.className = "msg-head";
    const who = document.createElement("b");
    who.className = "msg-who";
    who.textContent = mine ? text.you : ((cfg.authors || {})[m.author] || m.author);
    const at = new Date(m.at);
    const time = document.createElement("time");
    time.className = "msg-at";
    time.dateTime = m.at;
    time.textContent = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
    head.append(who, " ", time);
    const body = document.createElement("span");
    body.className = "msg-text";
    body.textContent = m.text;
    li.append(head, body);
    if (m.photo) {
      const img = document.createElement("img");
      img.src = token ? `${m.photo}?t=${encodeURIComponent(token)}` : m.photo;
      img.alt = text.photo || "";
      li.append(img);
    }
    list.append(li);
    markRead();
    li.scrollIntoView({ block: "nearest" });
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
