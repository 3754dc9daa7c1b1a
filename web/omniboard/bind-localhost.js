// Preloaded into Omniboard's node process (NODE_OPTIONS=--require): Omniboard calls
// app.listen(port) and so binds every interface; this makes a port-only listen() bind the
// address in OMNIBOARD_HOST (127.0.0.1 by default) instead.
const net = require("net");
const host = process.env.OMNIBOARD_HOST || "127.0.0.1";
const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    const port = Number(args[0]);
    const rest = args.slice(1).filter((a) => typeof a === "function");
    return originalListen.call(this, port, host, ...rest);
  }
  return originalListen.apply(this, args);
};
