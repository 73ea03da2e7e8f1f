// client.mjs drives the real socket.io-client for the socketio package's
// Go tests. It reads one JSON command per line on stdin and writes one JSON
// report per line on stdout:
//
//   {"op":"connect","name":"a","url":"http://…","opts":{…}}  io(url, {forceNew: true, …opts})
//   {"op":"emit","name":"a","event":"e","args":[…]}           socket.emit(event, …args)
//   {"op":"ack","name":"a","ref":1,"event":"e","args":[…],"timeout":ms}  socket.timeout(ms).emitWithAck(…)
//   {"op":"disconnect","name":"a"}                             socket.disconnect()
//   {"op":"connectAgain","name":"a","opts":{…}}                socket.auth = opts.auth; socket.connect()
//   {"op":"exit"}
//
// Reports: {"name","type":"connect","transport"}, {"type":"connect_error",
// "message","data"}, {"type":"event","event","args"}, {"type":"ack","ref",
// "result"} or {"type":"ack","ref","timeout":true}, {"type":"upgrade",
// "transport"}, {"type":"disconnect","reason"}, {"type":"reconnect"}.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const sockets = new Map();
const report = (r) => process.stdout.write(JSON.stringify(r) + "\n");

function connect(cmd) {
  const name = cmd.name;
  const socket = io(cmd.url, { forceNew: true, ...cmd.opts });
  sockets.set(name, socket);
  socket.on("connect", () => report({ name, type: "connect", transport: socket.io.engine.transport.name }));
  socket.on("connect_error", (err) => report({ name, type: "connect_error", message: err.message, data: err.data ?? null }));
  socket.on("disconnect", (reason) => report({ name, type: "disconnect", reason }));
  socket.onAny((event, ...args) => report({ name, type: "event", event, args }));
  socket.io.on("reconnect", () => report({ name, type: "reconnect" }));
  socket.io.on("open", () => {
    socket.io.engine.on("upgrade", (t) => report({ name, type: "upgrade", transport: t.name }));
  });
}

async function ack(cmd) {
  const socket = sockets.get(cmd.name);
  try {
    const result = await socket.timeout(cmd.timeout ?? 10000).emitWithAck(cmd.event, ...(cmd.args ?? []));
    report({ name: cmd.name, type: "ack", ref: cmd.ref, result });
  } catch (err) {
    report({ name: cmd.name, type: "ack", ref: cmd.ref, timeout: true, message: String(err) });
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const cmd = JSON.parse(line);
  const socket = sockets.get(cmd.name);
  switch (cmd.op) {
    case "connect":
      connect(cmd);
      break;
    case "emit":
      socket.emit(cmd.event, ...(cmd.args ?? []));
      break;
    case "ack":
      ack(cmd);
      break;
    case "disconnect":
      socket.disconnect();
      break;
    case "connectAgain":
      if (cmd.opts && cmd.opts.auth) socket.auth = cmd.opts.auth;
      socket.connect();
      break;
    case "exit":
      for (const s of sockets.values()) s.disconnect();
      process.exit(0);
  }
});
lines.on("close", () => {
  for (const s of sockets.values()) s.disconnect();
  process.exit(0);
});
