// Simulated devices on the automerge-repo reference stack (issue 11 §1): each device is its
// own Repo (own nodefs storage, own websocket to the server). One index document per grid
// lists its cases. After `go` on stdin, every device creates its cases, lists them in its
// grid's index, and follows the index until it holds every case of its grid with all its
// events. Prints `ready` after setup and one JSON line when the last device has converged.
//
// One process runs devices FIRST .. FIRST+COUNT-1 of DEVICES (Node runs one thread, so the
// bench spreads a large fleet over several processes, as ours spreads over threads). The
// process given no index URLs creates the grids' indexes and prints `indexes URL,URL,…`
// before `ready`; the others are given them.
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import readline from "node:readline"
import { randomUUID, createHash } from "node:crypto"

const [url, dir, devicesArg, gridsArg, casesArg, timeoutArg, firstArg, countArg, indexesArg] =
  process.argv.slice(2)
const DEVICES = Number(devicesArg)
const FIRST = Number(firstArg ?? 0)
const COUNT = Number(countArg ?? DEVICES)
const GRIDS = Number(gridsArg)
const CASES = Number(casesArg)
const TIMEOUT_MS = Number(timeoutArg ?? 600000)
const EVENTS = 3

const sleep = ms => new Promise(r => setTimeout(r, ms))
const gridCell = g => `110105001002${String(g + 1).padStart(3, "0")}`

function newDevice(i) {
  const repo = new Repo({
    network: [new WebSocketClientAdapter(url)],
    storage: new NodeFSStorageAdapter(`${dir}/device-${i}`),
  })
  return { i, grid: i % GRIDS, repo, index: null, held: new Map() }
}

// A document another device has just created may not have reached the server yet: the
// handle is then "unavailable" and becomes ready when the server gets it and syncs it on.
async function findRetrying(repo, docUrl) {
  for (;;) {
    try {
      return await repo.find(docUrl)
    } catch {
      await sleep(50)
    }
  }
}

// The server's storage id: the one peer every device is connected to.
const serverStorageId = repo => Object.values(repo.peerMetadataByPeerId).find(m => m?.storageId)?.storageId

const sameHeads = (a, b) => a.length === b.length && [...a].sort().every((h, i) => h === [...b].sort()[i])

// Resolves once the server has said (in its sync messages) that it holds the document's
// current heads: a document is listed in the index only then, as an app would do to not
// hand out links its peers cannot load yet.
function untilServerHas(repo, handle) {
  const held = () => {
    const info = handle.getSyncInfo(serverStorageId(repo))
    return info && sameHeads(info.lastHeads, handle.heads())
  }
  if (held()) return Promise.resolve()
  return new Promise(resolve => {
    const on = () => {
      if (held()) {
        handle.off("remote-heads", on)
        resolve()
      }
    }
    handle.on("remote-heads", on)
  })
}

// The same content as fieldloop's bench case: a header of 9 scalars, 2 editable fields,
// one before-photo's evidence entry, and 3 events.
function caseContent(device, n, at) {
  const id = randomUUID()
  const by = `dispatcher-${device.grid}`
  const photo = createHash("sha256").update(`before ${id}`).digest("hex")
  const events = []
  for (let e = 0; e < EVENTS; e++) {
    events.push({
      id: randomUUID(),
      type: ["case.reported", "case.registered", "case.dispatched"][e],
      at: at + e * 60000,
      by,
      role: "dispatcher",
      data: [{ urgency: "normal", photos: [photo] }, { urgency: "normal" }, { unit: "chaoyang-sanitation-1", note: "请尽快清运" }][e],
    })
  }
  return {
    header: {
      id, kind: "case", schema: 1, created_by: by, created_role: "dispatcher", created_at: at,
      position: { lat: 39.9219, lon: 116.4436, accuracy_m: 8 }, category: "20102",
      scope: { grid_cell: gridCell(device.grid) },
    },
    fields: { description: "垃圾堆在路边", address: `朝阳区三里屯路 ${n} 号` },
    evidence: { [photo]: { stage: "before", taken_at: at, lat: 39.9219, lon: 116.4436, accuracy_m: 8, by, mock: false } },
    events,
  }
}

// A find that times out inside automerge-repo rejects a promise nobody holds; the retry
// loop below carries on, so such a rejection is logged, not fatal.
process.on("unhandledRejection", e => console.error(`automerge-repo: ${e?.message ?? e}`))

const devices = Array.from({ length: COUNT }, (_, n) => newDevice(FIRST + n))
// Devices per grid in the whole fleet, not only in this process.
const perGrid = Array.from({ length: GRIDS }, (_, g) =>
  Array.from({ length: DEVICES }, (_, i) => i % GRIDS).filter(grid => grid === g).length)

// Setup (not timed): the first device of each grid creates the grid's index; every device
// opens it, so it is on the server and each device is subscribed.
let indexUrls = indexesArg ? indexesArg.split(",") : []
if (!indexesArg) {
  for (let g = 0; g < GRIDS; g++) {
    const handle = devices[g].repo.create({ grid: gridCell(g), cases: [] })
    indexUrls.push(handle.url)
    await untilServerHas(devices[g].repo, handle)
  }
  console.log(`indexes ${indexUrls.join(",")}`)
}
for (const d of devices) d.index = await findRetrying(d.repo, indexUrls[d.grid])
await sleep(500)
console.log("ready")

await new Promise(resolve => {
  readline.createInterface({ input: process.stdin }).on("line", line => {
    if (line.trim() === "go") resolve()
  })
})

const cpu0 = process.cpuUsage()
const start = performance.now()

async function runDevice(d) {
  const want = perGrid[d.grid] * CASES
  const created = []
  for (let n = 0; n < CASES; n++) {
    const handle = d.repo.create(caseContent(d, n, Date.now()))
    d.held.set(handle.url, true)
    created.push(untilServerHas(d.repo, handle))
  }
  await Promise.all(created)
  d.index.change(doc => { for (const u of d.held.keys()) doc.cases.push(u) })
  const loading = new Set()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`device ${d.i} held ${d.held.size}/${want}`)), TIMEOUT_MS)
    const check = () => {
      const listed = d.index.doc()?.cases ?? []
      for (const caseUrl of listed) {
        if (d.held.has(caseUrl) || loading.has(caseUrl)) continue
        loading.add(caseUrl)
        findRetrying(d.repo, caseUrl).then(async h => {
          // Whole content: every event of the case.
          while ((h.doc()?.events?.length ?? 0) < EVENTS) await sleep(20)
          d.held.set(caseUrl, true)
          loading.delete(caseUrl)
          check()
        })
      }
      if (d.held.size >= want) {
        clearTimeout(timer)
        d.index.off("change", check)
        resolve(performance.now() - start)
      }
    }
    d.index.on("change", check)
    check()
  })
}

const times = await Promise.all(devices.map(runDevice))
const converged = performance.now() - start
const cpu = process.cpuUsage(cpu0)
console.log(JSON.stringify({
  converged_ms: converged,
  first_device_ms: Math.min(...times),
  device_cpu_s: (cpu.user + cpu.system) / 1e6,
  cases_per_device: Math.max(...devices.map(d => d.held.size)),
}))
process.exit(0)
