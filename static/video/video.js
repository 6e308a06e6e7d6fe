// Video assistant: WebRTC call, chat, and the specialist's annotations over the customer's camera.
// One file for both sides; the server's config (json_script "video-config") says which side.
// Annotations travel as normalised coordinates (0..1) of the video *image* (object-fit: contain
// letterboxing taken out), so they land on the same spot whatever the two screen sizes.
(function () {
  "use strict";
  const cfgNode = document.getElementById("video-config");
  if (!cfgNode) return;
  const cfg = JSON.parse(cfgNode.textContent);
  const $ = (id) => document.getElementById(id);
  const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  const isSpecialist = cfg.role === "specialist";
  const call = $("call");
  const remote = $("remote");
  const local = $("local");
  const overlay = $("overlay");
  const frozen = $("frozen");
  // The image the annotations belong to: the customer's camera (remote for the specialist).
  const target = () => (isSpecialist ? remote : local);

  let ws = null;
  let wsDelay = 1000;  // reconnect backoff, doubled up to 15 s, reset on a good connection
  let finished = false;
  let pc = null;
  let stream = null;
  let pending = [];
  const shapes = [];
  let pointer = null;
  let replyTo = null;
  const status = (text) => { $("status").textContent = text; };
  // The specialist's page says what the session is doing now, not what it was on page load.
  const sessionStatus = (key, text) => {
    const node = $("session-status");
    if (node && text) { node.dataset.status = key; node.textContent = text; }
    if (key !== "new" && $("link")) $("link").hidden = true;  // the link is taken by now
  };

  // -- geometry -------------------------------------------------------------------------------
  function imageBox(video) {
    const r = video.getBoundingClientRect();
    const vw = video.videoWidth || r.width;
    const vh = video.videoHeight || r.height;
    const scale = Math.min(r.width / vw, r.height / vh);
    const w = vw * scale;
    const h = vh * scale;
    return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h };
  }
  function toUnit(ev) {
    const b = imageBox(target());
    const x = (ev.clientX - b.left) / b.width;
    const y = (ev.clientY - b.top) / b.height;
    return [Math.min(1, Math.max(0, x)), Math.min(1, Math.max(0, y))];
  }
  function placeOverlay() {
    const video = target();
    const stage = overlay.parentElement.getBoundingClientRect();
    const b = imageBox(video);
    overlay.style.left = b.left - stage.left + "px";
    overlay.style.top = b.top - stage.top + "px";
    overlay.style.width = b.width + "px";
    overlay.style.height = b.height + "px";
    overlay.width = Math.max(1, Math.round(b.width));
    overlay.height = Math.max(1, Math.round(b.height));
    frozen.style.left = overlay.style.left;
    frozen.style.top = overlay.style.top;
    frozen.style.width = overlay.style.width;
    frozen.style.height = overlay.style.height;
    draw();
  }
  function draw() {
    const ctx = overlay.getContext("2d");
    const W = overlay.width;
    const H = overlay.height;
    ctx.clearRect(0, 0, W, H);
    ctx.lineWidth = 3;
    ctx.strokeStyle = "#e53935";
    ctx.fillStyle = "#e53935";
    const all = pointer ? shapes.concat([pointer]) : shapes;
    for (const s of all) {
      const p = s.points.map(([x, y]) => [x * W, y * H]);
      ctx.beginPath();
      if (s.kind === "rect") {
        ctx.strokeRect(p[0][0], p[0][1], p[1][0] - p[0][0], p[1][1] - p[0][1]);
      } else if (s.kind === "pointer") {
        ctx.arc(p[0][0], p[0][1], 8, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.moveTo(p[0][0], p[0][1]);
        for (const q of p.slice(1)) ctx.lineTo(q[0], q[1]);
        ctx.stroke();
        if (s.kind === "arrow") {
          const [a, b] = p;
          const ang = Math.atan2(b[1] - a[1], b[0] - a[0]);
          ctx.beginPath();
          ctx.moveTo(b[0], b[1]);
          ctx.lineTo(b[0] - 14 * Math.cos(ang - 0.5), b[1] - 14 * Math.sin(ang - 0.5));
          ctx.lineTo(b[0] - 14 * Math.cos(ang + 0.5), b[1] - 14 * Math.sin(ang + 0.5));
          ctx.closePath();
          ctx.fill();
        }
      }
    }
    overlay.dataset.shapes = JSON.stringify(shapes);
  }
  window.addEventListener("resize", placeOverlay);

  // -- websocket and WebRTC ---------------------------------------------------------------------
  function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }
  function newPeer() {
    if (pc) pc.close();
    pc = new RTCPeerConnection({ iceServers: cfg.ice || [] });
    pending = [];
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    pc.onicecandidate = (e) => { if (e.candidate) send({ type: "signal", data: { candidate: e.candidate.toJSON() } }); };
    pc.ontrack = (e) => {
      remote.srcObject = e.streams[0];
      remote.onloadedmetadata = placeOverlay;
    };
    pc.onconnectionstatechange = () => {
      call.dataset.connection = pc.connectionState;
      if (pc.connectionState === "connected") {
        send({ type: "started" });
        status("");
        sessionStatus("live", cfg.text.live);
      }
    };
    return pc;
  }
  async function onSignal(data) {
    if (data.ready && isSpecialist) {
      newPeer();
      await pc.setLocalDescription(await pc.createOffer());
      send({ type: "signal", data: { description: pc.localDescription.toJSON() } });
    } else if (data.description) {
      if (data.description.type === "offer") {
        newPeer();
        await pc.setRemoteDescription(data.description);
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: "signal", data: { description: pc.localDescription.toJSON() } });
      } else if (pc) {
        await pc.setRemoteDescription(data.description);
      }
      for (const c of pending) await pc.addIceCandidate(c);
      pending = [];
    } else if (data.candidate) {
      if (pc && pc.remoteDescription) await pc.addIceCandidate(data.candidate);
      else pending.push(data.candidate);
    }
  }
  // The websocket comes back after the server drops it (restart, network change): with backoff,
  // never after a refusal (4403) or the end of the call. On every (re)connect the chat catches
  // up over HTTP, and the customer asks for a new offer unless the media still flows.
  function connect() {
    let reconnecting = call.dataset.ws && call.dataset.ws !== "open";
    ws = new WebSocket(cfg.ws);
    ws.onopen = () => {
      if (!isSpecialist && !(pc && pc.connectionState === "connected")) {
        send({ type: "signal", data: { ready: true } });
      }
    };
    ws.onclose = (e) => {
      call.dataset.ws = "closed:" + e.code;
      if (finished || e.code === 4403) return;
      status(cfg.text.reconnecting);
      setTimeout(connect, wsDelay);
      wsDelay = Math.min(wsDelay * 2, 15000);
    };
    ws.onmessage = async (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === "hello") {
        call.dataset.ws = "open";
        wsDelay = 1000;
        if (reconnecting) { reconnecting = false; status(""); catchUp(); }
        call.dataset.connects = String(Number(call.dataset.connects || 0) + 1);
      }
      else if (msg.type === "peer") {
        const other = msg.role !== cfg.role;
        if (other) status(msg.event === "join" ? cfg.text.peer_join : cfg.text.peer_leave);
        if (msg.event === "join" && !isSpecialist) send({ type: "signal", data: { ready: true } });
      }
      else if (msg.type === "signal") await onSignal(msg.data);
      else if (msg.type === "annotate") {
        if (msg.shape.kind === "pointer") pointer = msg.shape; else shapes.push(msg.shape);
        draw();
      } else if (msg.type === "undo") { shapes.pop(); draw(); }
      else if (msg.type === "clear") { shapes.length = 0; pointer = null; draw(); }
      else if (msg.type === "freeze") showFrozen(msg.image);
      else if (msg.type === "chat") addMessage(msg.message);
      else if (msg.type === "ended") ended();
    };
  }
  function showFrozen(image) {
    frozen.hidden = !image;
    if (image) frozen.src = image; else frozen.removeAttribute("src");
    call.dataset.frozen = image ? "yes" : "no";
  }
  async function catchUp() {
    const r = await fetch(cfg.messages, { credentials: "same-origin" });
    if (r.ok) (await r.json()).messages.forEach(addMessage);
  }
  function ended() {
    finished = true;
    sessionStatus("ended", cfg.text.ended);
    if (ws) ws.close();
    if (pc) pc.close();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    status(cfg.text.ended);
    call.dataset.ended = "yes";
    if (!isSpecialist && cfg.website) window.location.href = cfg.website;
  }
  async function start() {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    local.srcObject = stream;
    local.onloadedmetadata = placeOverlay;
    call.hidden = false;
    connect();
  }

  // -- chat ------------------------------------------------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");
  function bindReply(li, m) {
    li.addEventListener("click", () => {
      replyTo = m.id;
      $("replying").hidden = false;
      $("replying").textContent = "↪ " + (m.text || "📷");
    });
  }
  // Every message says who wrote it and when (the server renders the history the same way).
  function addMessage(m) {
    if (document.querySelector(`#messages [data-message="${m.id}"]`)) return;
    const mine = m.author === cfg.role;
    const li = document.createElement("li");
    li.dataset.message = m.id;
    li.dataset.author = m.author;
    li.className = `msg msg-${m.author}` + (mine ? " msg-mine" : "");
    const head = document.createElement("span");
    head.className = "msg-head";
    const who = document.createElement("b");
    who.className = "msg-who";
    who.textContent = mine ? cfg.text.you : (cfg.authors[m.author] || m.author);
    const at = new Date(m.at);
    const time = document.createElement("time");
    time.className = "msg-at";
    time.dateTime = m.at;
    time.textContent = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
    head.append(who, " ", time);
    li.append(head);
    if (m.reply_text) {
      const q = document.createElement("blockquote");
      q.textContent = m.reply_text;
      li.append(q);
    }
    const text = document.createElement("span");
    text.className = "msg-text";
    text.textContent = m.text;
    li.append(text);
    if (m.photo) {
      const img = document.createElement("img");
      img.src = m.photo;
      img.alt = cfg.text.photo;
      li.append(img);
    }
    bindReply(li, m);
    $("messages").append(li);
    li.scrollIntoView({ block: "nearest" });
  }
  // The history the server rendered answers clicks too.
  document.querySelectorAll("#messages [data-message]").forEach((li) => {
    const text = li.querySelector(".msg-text");
    bindReply(li, { id: Number(li.dataset.message), text: text ? text.textContent : "" });
  });
  const copy = $("link-copy");
  if (copy) {
    copy.addEventListener("click", async () => {
      $("link-url").select();
      try { await navigator.clipboard.writeText($("link-url").value); } catch (err) { document.execCommand("copy"); }
      copy.textContent = copy.dataset.copied;
    });
  }
  $("chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    if (replyTo) form.append("reply_to", replyTo);
    const button = e.target.querySelector("button");
    button.disabled = true;  // one message at a time: the form is reset after each
    const r = await fetch(cfg.messages, { method: "POST", body: form, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" }).finally(() => { button.disabled = false; });
    const body = await r.json();
    $("chat-error").hidden = r.ok;
    if (!r.ok) { $("chat-error").textContent = body.error; return; }
    addMessage(body);
    e.target.reset();
    replyTo = null;
    $("replying").hidden = true;
  });
  $("chat-toggle").addEventListener("click", () => { $("chat").hidden = !$("chat").hidden; });

  // -- controls --------------------------------------------------------------------------------
  $("camera").addEventListener("click", () => {
    const t = stream && stream.getVideoTracks()[0];
    if (t) { t.enabled = !t.enabled; call.dataset.camera = t.enabled ? "on" : "off"; }
  });
  $("mute").addEventListener("click", () => {
    const t = stream && stream.getAudioTracks()[0];
    if (t) { t.enabled = !t.enabled; call.dataset.mic = t.enabled ? "on" : "off"; }
  });
  $("end").addEventListener("click", () => { send({ type: "end" }); ended(); });

  // -- the specialist's tools ------------------------------------------------------------------
  if (isSpecialist) {
    let tool = "pointer";
    let drawing = null;
    document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => {
      tool = b.dataset.tool;
      call.dataset.tool = tool;
    }));
    overlay.style.pointerEvents = "auto";
    overlay.addEventListener("pointerdown", (e) => {
      if (tool === "pointer") return;
      drawing = { kind: tool, points: [toUnit(e)] };
    });
    overlay.addEventListener("pointermove", (e) => {
      if (tool === "pointer") {
        pointer = { kind: "pointer", points: [toUnit(e)] };
        send({ type: "annotate", shape: pointer });
        draw();
      } else if (drawing && tool === "freehand") {
        if (drawing.points.length < 499) drawing.points.push(toUnit(e));
      }
    });
    overlay.addEventListener("pointerup", (e) => {
      if (!drawing) return;
      if (drawing.kind === "freehand") drawing.points.push(toUnit(e));
      else drawing.points = [drawing.points[0], toUnit(e)];
      shapes.push(drawing);
      send({ type: "annotate", shape: drawing });
      drawing = null;
      draw();
    });
    $("undo").addEventListener("click", () => { shapes.pop(); draw(); send({ type: "undo" }); });
    $("clear").addEventListener("click", () => { shapes.length = 0; pointer = null; draw(); send({ type: "clear" }); });
    $("freeze").addEventListener("click", () => {
      if (!frozen.hidden) { showFrozen(null); send({ type: "freeze", image: null }); return; }
      const c = document.createElement("canvas");
      c.width = remote.videoWidth;
      c.height = remote.videoHeight;
      c.getContext("2d").drawImage(remote, 0, 0);
      const image = c.toDataURL("image/jpeg", 0.8);
      showFrozen(image);
      send({ type: "freeze", image });
    });
    $("start").addEventListener("click", () => { $("start").hidden = true; start(); });
  } else {
    // The customer: proceed -> location (may decline) -> camera and microphone -> the call.
    const answerLocation = async (body) => {
      await fetch(cfg.location, { method: "POST", body: JSON.stringify(body), headers: { "X-CSRFToken": csrf, "Content-Type": "application/json" }, credentials: "same-origin" });
      $("step-location").hidden = true;
      $("step-camera").hidden = false;
      tryCamera();
    };
    const tryCamera = async () => {
      $("camera-error").hidden = true;
      $("camera-retry").hidden = true;
      try {
        await start();
        $("steps").hidden = true;
      } catch (err) {
        $("camera-error").textContent = cfg.text.camera;
        $("camera-error").hidden = false;
        $("camera-retry").hidden = false;
      }
    };
    $("proceed").addEventListener("click", () => {
      $("step-proceed").hidden = true;
      $("step-location").hidden = false;
    });
    $("location-no").addEventListener("click", () => answerLocation({ refused: true }));
    $("location-yes").addEventListener("click", () => {
      navigator.geolocation.getCurrentPosition(
        (pos) => answerLocation({ lat: pos.coords.latitude, lon: pos.coords.longitude }),
        () => answerLocation({ refused: true }),
        { timeout: 10000 },
      );
    });
    $("camera-retry").addEventListener("click", tryCamera);
  }
  document.body.dataset.videoReady = "yes";  // the buttons work from now on
})();
