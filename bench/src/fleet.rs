//! Simulated phones: each one the core's real device store (its own SQLite file) and the
//! real sync client over HTTP, logged in as its grid's inspector and registered.

use std::path::Path;
use std::sync::Mutex;

use fieldloop_core::case::events::{Dispatched, Registered, Reported};
use fieldloop_core::case::{CaseDoc, CaseEvent, NewCase};
use fieldloop_core::doc::{Evidence, EvidenceStage, Position};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::store::{sha256_hex, Store};
use fieldloop_core::sync::client::{listing_for, SyncClient, SyncReport};
use fieldloop_core::time::{Millis, MINUTE};
use uuid::Uuid;

use crate::error::{setup, Result};
use crate::server::{Server, PASSWORD};

/// 2026-11-23 09:00 Beijing time: when the simulated cases are reported.
pub const T0: Millis = 1_795_395_600_000;
/// The state of a case holding its three events (reported → registered → dispatched).
const DISPATCHED: &str = "dispatched";
pub const UNIT: &str = "chaoyang-sanitation-1";
const POSITION: Position = Position {
    lat: 39.9219,
    lon: 116.4436,
    accuracy_m: 8.0,
};

/// Grid `g`'s 15-digit cell code (110105 朝阳区, street 001, community 002, cell g+1).
pub fn grid_cell(g: usize) -> String {
    format!("110105001002{:03}", g + 1)
}

pub fn inspector_name(g: usize) -> String {
    format!("bench-dispatcher-{g}")
}

/// Now, in milliseconds: cases are reported at the real time, so the server's scheduler
/// finds no deadline to warn about while a bench runs.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(T0)
}

/// One person per grid, jurisdiction that grid's cell: a dispatcher, who may report
/// (hotline calls), register and dispatch, so a case's three events are all legal and
/// none asks for the referee's verdict.
pub fn people(grids: usize) -> Vec<(String, Role, Jurisdiction)> {
    (0..grids)
        .map(|g| {
            (
                inspector_name(g),
                Role::Dispatcher,
                Jurisdiction {
                    grid_prefixes: vec![grid_cell(g)],
                    ..Jurisdiction::default()
                },
            )
        })
        .collect()
}

pub struct Device {
    pub index: usize,
    pub grid: usize,
    pub store: Store,
    pub client: SyncClient,
    pub principal: Principal,
}

impl Device {
    /// Logs in (one argon2 on the server each: setup) and registers a new store's device.
    pub fn login(server: &Server, dir: &Path, index: usize, grids: usize) -> Result<Device> {
        let grid = index % grids;
        let mut store = Store::open(dir.join(format!("device-{index}.sqlite3")))?;
        let (client, info) = SyncClient::login(&server.base, &inspector_name(grid), PASSWORD)?;
        let principal = info.principal();
        store.set_principal(Some(&principal))?;
        client.register_device(store.evidence_signer(), &format!("bench phone {index}"))?;
        Ok(Device {
            index,
            grid,
            store,
            client,
            principal,
        })
    }

    /// `count` devices over `grids` grids, logged in from a few threads.
    pub fn fleet(server: &Server, dir: &Path, count: usize, grids: usize) -> Result<Vec<Device>> {
        Device::fleet_over(std::slice::from_ref(server), dir, count, grids)
    }

    /// [`Device::fleet`] spread over several instances of one deployment: device `i`
    /// talks to `servers[i % n]`, as a load balancer would spread phones.
    pub fn fleet_over(
        servers: &[Server],
        dir: &Path,
        count: usize,
        grids: usize,
    ) -> Result<Vec<Device>> {
        let slots: Vec<Mutex<Option<Result<Device>>>> =
            (0..count).map(|_| Mutex::new(None)).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Device::login(&servers[i % servers.len()], dir, i, grids));
                });
            }
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or_else(|| Err(setup("device not set up")))
            })
            .collect()
    }

    /// A 暴露垃圾 case in the device's grid: header, description, address, one
    /// before-photo's evidence entry, and 3 events (reported, registered, dispatched),
    /// saved durably.
    pub fn create_case(&mut self, n: usize, at: Millis) -> Result<Uuid> {
        let new = new_case(&self.principal, &grid_cell(self.grid), n, at);
        let id = new.id;
        let mut case = CaseDoc::create(&self.principal, self.store.actor(), new)?;
        let registered = CaseEvent::Registered(Registered::default());
        case.append(&self.principal, &registered, Uuid::now_v7(), at + MINUTE)?;
        let dispatched = CaseEvent::Dispatched(Dispatched {
            unit: UNIT.into(),
            note: Some("请尽快清运".into()),
        });
        case.append(
            &self.principal,
            &dispatched,
            Uuid::now_v7(),
            at + 2 * MINUTE,
        )?;
        self.save(case.doc_mut())?;
        Ok(id)
    }

    /// An edit of one field of a case, saved: the smallest change a phone syncs.
    pub fn edit(&mut self, id: Uuid, text: &str) -> Result<()> {
        let mut doc = self.store.load_doc(id)?;
        doc.set_field("description", text)?;
        self.save(&mut doc)
    }

    fn save(&mut self, doc: &mut fieldloop_core::doc::Doc) -> Result<()> {
        let listing = listing_for(doc)?;
        self.store.save_doc(doc, &listing)?;
        Ok(())
    }

    pub fn sync(&mut self) -> Result<SyncReport> {
        Ok(self.client.sync(&mut self.store, T0 + 60 * MINUTE)?)
    }

    /// Whether the store holds `want` cases, each with all its events: its task list
    /// shows `want` cases as dispatched, a state the fold reached from all three events
    /// when the case was stored (a dispatch without the registration before it would be
    /// ignored). Read from the list, as a phone shows it, not by loading every case again
    /// after every sync (which at 1,000 devices was a third of the devices' CPU).
    pub fn holds(&self, want: usize) -> Result<bool> {
        if (self.store.doc_count()? as usize) < want {
            return Ok(false);
        }
        let listed = self.store.list_open_tasks(want + 16)?;
        let dispatched = listed
            .iter()
            .filter(|doc| doc.listing.status == DISPATCHED)
            .count();
        Ok(dispatched >= want)
    }
}

/// A 暴露垃圾 (20102) report at [`POSITION`] in `cell` with one before-photo reference.
fn new_case(by: &Principal, cell: &str, n: usize, at: Millis) -> NewCase {
    let id = Uuid::now_v7();
    let photo = sha256_hex(format!("before {id}").as_bytes());
    // The sync bench never asks for a verdict, so the photo reference goes unsigned.
    let evidence = Evidence::new(EvidenceStage::Before, at, Some(POSITION), &by.user_id);
    NewCase {
        id,
        event_id: Uuid::now_v7(),
        at,
        category: "20102".into(),
        position: POSITION,
        grid_cell: cell.into(),
        description: Some("垃圾堆在路边".into()),
        address: Some(format!("朝阳区三里屯路 {n} 号")),
        report: Reported::default(),
        before_photos: vec![(photo, evidence)],
    }
}

/// A reported case outside any store (the verdict and size benches).
pub fn loose_case(by: &Principal, cell: &str, n: usize, at: Millis) -> Result<CaseDoc> {
    let actor = fieldloop_core::doc::actor_for(&Uuid::from_u128(0xbe_4c4 + n as u128));
    Ok(CaseDoc::create(by, &actor, new_case(by, cell, n, at))?)
}
