// One EventSource per browser, shared by every tab through this SharedWorker: browsers allow
// only six HTTP/1.1 connections per origin, so a stream per tab would hang the seventh tab.
// Each message is forwarded as JSON {event, data, received_at}; received_at lets a tab measure
// the server's clock offset even for the cached state it gets when it joins.
const ports = new Set();
let source = null;
let lastState = null;
let retryDelay = 1000;

function send(port, message) {
  try {
    port.postMessage(JSON.stringify(message));
  } catch (_) {
    ports.delete(port);
  }
}

function broadcast(message) {
  for (const port of ports) send(port, message);
}

function connect() {
  source = new EventSource('/api/events');
  for (const event of ['state', 'alert']) {
    source.addEventListener(event, (e) => {
      const message = { event, data: e.data, received_at: Date.now() };
      if (event === 'state') lastState = message;
      broadcast(message);
    });
  }
  source.onopen = () => {
    retryDelay = 1000;
    broadcast({ event: 'connection', data: 'open', received_at: Date.now() });
  };
  source.onerror = () => {
    broadcast({ event: 'connection', data: 'lost', received_at: Date.now() });
    // The browser retries by itself unless the server refused the stream (e.g. 401).
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      setTimeout(() => { if (!source && ports.size > 0) connect(); }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    }
  };
}

self.onconnect = (e) => {
  const port = e.ports[0];
  ports.add(port);
  port.onmessage = (m) => {
    if (m.data === 'leave') {
      ports.delete(port);
      if (ports.size === 0 && source) {
        source.close();
        source = null;
        lastState = null;
      }
    }
  };
  port.start();
  if (!source) {
    connect();
  } else if (lastState) {
    send(port, lastState);
  }
};
