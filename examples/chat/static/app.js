// The chat's page: a login form, then rooms and messages over the
// browser's own WebSocket, speaking wsgate's protocol v1:
//   request  {"event": name, "data": …, "id": n}  → ack {"id": n, "data": …} or {"id": n, "error": {…}}
//   events   {"event": "message" | "direct" | "exception", "data": …}
// Every text from the server is shown with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

let ws = null;          // the open (or opening) socket
let nextId = 1;         // the next request id
const pending = new Map(); // id → {resolve, reject}
let current = null;     // the room "say" posts to

// show switches between the login form and the chat; the body's
// data-state says which is shown ("connecting", "login", "chat").
function show(state) {
  document.body.dataset.state = state;
  $("login").hidden = state !== "login";
  $("chat").hidden = state !== "chat";
}

function setStatus(text, code) {
  $("status").textContent = text;
  $("status").dataset.code = code === undefined ? "" : String(code);
}

function line(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;
  $("messages").append(li);
  $("messages").scrollTop = $("messages").scrollHeight;
}

// connect opens the socket. The browser sends the HttpOnly session cookie
// with it; without a valid one the server refuses the handshake (401) and
// the socket closes before it opens: the login form is shown.
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const sock = new WebSocket(url);
  let opened = false;
  ws = sock;
  sock.onopen = () => {
    opened = true;
    // data-close-code and data-close-reason describe the last socket's end.
    delete document.body.dataset.closeCode;
    delete document.body.dataset.closeReason;
    $("me").textContent = sessionStorage.getItem("name") || "(this session)";
    setStatus("connected");
    show("chat");
  };
  sock.onmessage = (m) => receive(JSON.parse(m.data));
  sock.onclose = (e) => {
    if (ws === sock) ws = null;
    for (const p of pending.values()) p.reject({message: "disconnected"});
    pending.clear();
    document.body.dataset.closeCode = String(e.code);
    document.body.dataset.closeReason = e.reason;
    $("rooms").replaceChildren();
    current = null;
    $("current").textContent = "no room";
    if (!opened) {
      setStatus("");
    } else if (e.code === 1008) {
      setStatus("disconnected: " + (e.reason || "policy") + " (1008)", 1008);
    } else if (e.code === 4001) {
      setStatus("session expired (4001): log in again", 4001);
    } else {
      setStatus("disconnected (" + e.code + (e.reason ? " " + e.reason : "") + ")", e.code);
    }
    show("login");
  };
}

function request(event, data) {
  return new Promise((resolve, reject) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      reject({message: "not connected"});
      return;
    }
    const id = nextId++;
    pending.set(id, {resolve, reject});
    ws.send(JSON.stringify({event, data, id}));
  });
}

function receive(f) {
  if (f.id !== undefined) {
    const p = pending.get(f.id);
    pending.delete(f.id);
    if (p) f.error ? p.reject(f.error) : p.resolve(f.data);
    return;
  }
  switch (f.event) {
  case "message":
    line("message", "[" + f.data.room + "] " + f.data.from + ": " + f.data.text);
    break;
  case "direct":
    line("direct", "(direct) " + f.data.from + ": " + f.data.text);
    break;
  case "exception":
    line("error", "error: " + f.data.message);
    break;
  }
}

function fail(err) {
  line("error", "error: " + (err && err.message ? err.message : String(err)));
}

function select(room) {
  current = room;
  $("current").textContent = room;
  for (const li of $("rooms").children) li.classList.toggle("current", li.dataset.room === room);
}

function addRoom(room) {
  if ([...$("rooms").children].some((li) => li.dataset.room === room)) return select(room);
  const li = document.createElement("li");
  li.dataset.room = room;
  const name = document.createElement("span");
  name.textContent = room;
  const leave = document.createElement("button");
  leave.type = "button";
  leave.textContent = "leave";
  leave.onclick = (e) => {
    e.stopPropagation();
    request("leave", {room}).then(() => {
      li.remove();
      if (current === room) {
        current = null;
        $("current").textContent = "no room";
      }
    }, fail);
  };
  li.append(name, leave);
  li.onclick = () => select(room);
  $("rooms").append(li);
  select(room);
}

$("login").onsubmit = async (e) => {
  e.preventDefault();
  const name = $("name").value;
  let r;
  try {
    r = await fetch("/login", {method: "POST", body: new URLSearchParams({name})});
  } catch (err) {
    setStatus("login failed: the server cannot be reached");
    return;
  }
  if (r.status !== 204) {
    const body = await r.json().catch(() => ({message: r.statusText}));
    setStatus("login refused: " + body.message, r.status);
    return;
  }
  sessionStorage.setItem("name", name);
  setStatus("connecting…");
  connect();
};

// Logging out ends this user's sockets on every server: the server closes
// this page's socket too (1008 "logged out"), so the page does not close
// it itself.
$("logout").onclick = async () => {
  let r;
  try {
    r = await fetch("/logout", {method: "POST"});
  } catch (err) {
    setStatus("logout failed: the server cannot be reached");
    return;
  }
  if (r.status !== 204) {
    const body = await r.json().catch(() => ({message: r.statusText}));
    setStatus("logout failed: " + body.message, r.status);
    if (r.status !== 401) return;
  }
  sessionStorage.removeItem("name");
  if (!ws) show("login");
};

$("join").onsubmit = (e) => {
  e.preventDefault();
  const room = $("room").value;
  request("join", {room}).then((ack) => { addRoom(ack.room); $("room").value = ""; }, fail);
};

$("say").onsubmit = (e) => {
  e.preventDefault();
  if (!current) return fail({message: "join a room first"});
  const text = $("text").value;
  request("say", {room: current, text}).then(() => { $("text").value = ""; }, fail);
};

$("dm").onsubmit = (e) => {
  e.preventDefault();
  const to = $("to").value, text = $("dmtext").value;
  request("dm", {to, text}).then(() => {
    line("direct", "(to " + to + ") " + text);
    $("dmtext").value = "";
  }, fail);
};

connect();
