// The automerge-repo reference sync server (issue 11 §1): one Repo with nodefs storage and
// the websocket server adapter on 127.0.0.1, as the automerge-repo sync-server example runs
// it. Counts websocket payload bytes both ways. Prints `ready <port>`, then answers a
// `stats` line on stdin with one JSON line of counters.
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import readline from "node:readline"

const [dir] = process.argv.slice(2)
const counters = { bytes_in: 0, bytes_out: 0, messages_in: 0, messages_out: 0, connections: 0 }

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
wss.on("connection", socket => {
  counters.connections += 1
  socket.on("message", data => {
    counters.messages_in += 1
    counters.bytes_in += data.byteLength ?? data.length
  })
  const send = socket.send.bind(socket)
  socket.send = (data, ...rest) => {
    counters.messages_out += 1
    counters.bytes_out += data.byteLength ?? data.length
    return send(data, ...rest)
  }
})

// The sync-server example's policy: the server does not announce documents to peers;
// peers ask for the ones they want.
new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  sharePolicy: async () => false,
})

wss.on("listening", () => console.log(`ready ${wss.address().port}`))
readline.createInterface({ input: process.stdin }).on("line", line => {
  if (line.trim() === "stats") console.log(JSON.stringify(counters))
})
