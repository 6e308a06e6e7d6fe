// Live portal notices: a websocket to /ws/notifications/ shows each new notice in a small
// container and keeps the unread badge current, without reloading the page. Without
// JavaScript the badge is just a link to the notices page.
(function () {
  "use strict";

  var badge = document.getElementById("notify-badge");
  var box = document.getElementById("notify-live");
  if (!badge || !box || !window.WebSocket) return;
  var count = badge.querySelector(".count");
  var unread = 0;
  var delay = 1000;

  function setUnread(n) {
    unread = Math.max(0, n);
    count.textContent = unread ? String(unread) : "";
    count.hidden = !unread;
  }

  function show(notice) {
    var item = document.createElement("div");
    item.className = "notice-live";
    item.setAttribute("role", "status");
    var title = document.createElement("strong");
    title.textContent = notice.title;
    if (notice.url && notice.url.charAt(0) === "/" && notice.url.charAt(1) !== "/") {
      var link = document.createElement("a");  // an operator's call card, say
      link.href = notice.url;
      link.appendChild(title);
      item.appendChild(link);
    } else {
      item.appendChild(title);
    }
    if (notice.body) {
      var body = document.createElement("p");
      body.textContent = notice.body;
      item.appendChild(body);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.setAttribute("aria-label", "×");
    close.textContent = "×";
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(close);
    box.prepend(item);
    while (box.children.length > 5) box.lastChild.remove();
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + badge.dataset.ws);
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "hello") setUnread(data.unread);
      if (data.type === "notice") {
        setUnread(unread + 1);
        // The operator's integrated pages alert on their own (a banner that follows the call):
        // no second card over the chat there.
        var ownAlerts = document.getElementById("integrated-alerts");
        if (!(ownAlerts && data.notice.kind === "integrated")) show(data.notice);
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4401) return;  // logged out: nothing to wait for
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  connect();
})();
