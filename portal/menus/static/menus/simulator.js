// "Проверить меню": walks the same pure machine the switch runs (POST <step_url>), plays the
// prompts in order and shows where each key leads. No external loads.
(function () {
  "use strict";
  var root = document.getElementById("simulator");
  if (!root) { return; }
  var url = root.dataset.stepUrl;
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var text = JSON.parse(document.getElementById("sim-text").textContent);
  var audio = root.querySelector("[data-sim-audio]");
  var state = null;
  var queue = [];

  function q(sel) { return root.querySelector(sel); }

  function playNext() {
    var next = queue.shift();
    if (!next) { return; }
    audio.src = next;
    var p = audio.play();
    if (p && p.catch) { p.catch(function () {}); }  // no sound device: the text is shown anyway
  }
  audio.addEventListener("ended", playNext);

  function log(line) {
    var li = document.createElement("li");
    li.textContent = line;
    q("[data-sim-log]").appendChild(li);
  }

  function show(data) {
    state = data.state;
    var heard = (data.prompts || []).map(function (p) { return p.text; }).filter(Boolean);
    q("[data-sim-hear]").textContent = heard.length ? text.hear + " " + heard.join(" ") : "";
    var list = q("[data-sim-options]");
    list.textContent = "";
    q("[data-sim-result]").textContent = "";
    if (data.action === "ask") {
      q("[data-sim-menu]").textContent = data.menu.name;
      data.menu.options.forEach(function (o) {
        var li = document.createElement("li");
        li.dataset.key = o.key;
        li.textContent = o.key + (o.label ? " " + o.label : "") + " → " + o.target;
        list.appendChild(li);
      });
    } else if (data.action === "go") {
      q("[data-sim-result]").textContent = text.out + " " + data.destination;
      state = null;
    } else {
      q("[data-sim-result]").textContent = text.end;
      state = null;
    }
    root.dataset.action = data.action;
    queue = (data.prompts || []).map(function (p) { return p.url; });
    playNext();
  }

  function step(digits, starting) {
    var body = {state: starting ? null : state, digits: digits};
    var at = q("[data-sim-at]").value;
    if (at) { body.at = at; }
    if (!starting) { log(text.pressed + " " + (digits === null ? text.silence : digits)); }
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    }).then(show).catch(function () { q("[data-sim-result]").textContent = text.error; });
  }

  q("[data-sim-start]").addEventListener("click", function () {
    q("[data-sim-log]").textContent = "";
    step(null, true);
  });
  q("[data-sim-silence]").addEventListener("click", function () { if (state) { step(null, false); } });
  q("[data-sim-send]").addEventListener("click", function () {
    var digits = q("[data-sim-digits]").value.replace(/[^0-9*#]/g, "");
    if (state && digits) { step(digits, false); }
  });
  root.querySelectorAll("[data-key]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (state) { step(button.dataset.key, false); }
    });
  });
})();
