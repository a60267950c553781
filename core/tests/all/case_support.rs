//! Shared fixtures for the case, permission and merge tests: people, a grid cell in
//! Beijing's Chaoyang district, photo evidence and a case walked step by step.
#![allow(dead_code)]

use fieldloop_core::case::{
    events::{Dispatched, Empty, Handled, Reason, Registered, Reported, VerificationSubmitted},
    CaseDoc, CaseEvent, Check, NewCase, Verdict,
};
use fieldloop_core::doc::{actor_for, Event, Evidence, EvidenceStage, Position};
use fieldloop_core::roles::{Jurisdiction, Principal, Role};
use fieldloop_core::time::{Millis, MINUTE};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// 110105 朝阳区, street 001, community 002, cell 003.
pub const GRID: &str = "110105001002003";
pub const UNIT: &str = "chaoyang-sanitation-1";
pub const OTHER_UNIT: &str = "chaoyang-roads-2";
/// 2026-11-23 09:00 Beijing time (a Monday).
pub const T0: Millis = 1_795_395_600_000;

pub const POSITION: Position = Position {
    lat: 39.9219,
    lon: 116.4436,
    accuracy_m: 8.0,
};

fn person(id: &str, role: Role, jurisdiction: Jurisdiction) -> Principal {
    Principal {
        user_id: id.to_string(),
        role,
        jurisdiction,
    }
}

/// Walks the cells of community 002.
pub fn inspector() -> Principal {
    person(
        "inspector-li",
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec!["110105001002".into()],
            ..Default::default()
        },
    )
}

/// An inspector of another community of the same street.
pub fn other_inspector() -> Principal {
    person(
        "inspector-wang",
        Role::Inspector,
        Jurisdiction {
            grid_prefixes: vec!["110105001009".into()],
            ..Default::default()
        },
    )
}

/// Dispatches for the whole street 001.
pub fn dispatcher() -> Principal {
    person(
        "dispatcher-zhao",
        Role::Dispatcher,
        Jurisdiction {
            grid_prefixes: vec!["110105001".into()],
            ..Default::default()
        },
    )
}

pub fn handler() -> Principal {
    person(
        "handler-chen",
        Role::Handler,
        Jurisdiction {
            units: vec![UNIT.into()],
            ..Default::default()
        },
    )
}

pub fn other_handler() -> Principal {
    person(
        "handler-sun",
        Role::Handler,
        Jurisdiction {
            units: vec![OTHER_UNIT.into()],
            ..Default::default()
        },
    )
}

pub fn server() -> Principal {
    person(
        "server",
        Role::Server,
        Jurisdiction {
            everywhere: true,
            ..Default::default()
        },
    )
}

/// A stable photo address for a label.
pub fn hash(label: &str) -> String {
    hex::encode(Sha256::digest(label.as_bytes()))
}

pub fn evidence(stage: EvidenceStage, by: &Principal, at: Millis) -> Evidence {
    Evidence {
        stage,
        taken_at: at,
        position: Some(POSITION),
        by: by.user_id.clone(),
        phash: Some(0x0f0f_1234_5678_9abc),
        item: None,
        mock: false,
        original_sha256: None,
        exif: None,
        seal: None,
    }
}

/// A case under test with its own clock: each step is one minute after the last.
pub struct Walk {
    pub case: CaseDoc,
    pub now: Millis,
}

impl Walk {
    /// A 暴露垃圾 case reported by the inspector with one before-photo.
    pub fn reported() -> Walk {
        Walk::reported_as("20102", T0)
    }

    /// A case of `category` reported at `at` (whatever the catalogue and calendar say).
    pub fn reported_as(category: &str, at: Millis) -> Walk {
        let inspector = inspector();
        let new = NewCase {
            id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            at,
            category: category.into(),
            position: POSITION,
            grid_cell: GRID.into(),
            description: Some("垃圾堆在路边".into()),
            address: Some("朝阳区三里屯路 19 号".into()),
            report: Reported::default(),
            before_photos: vec![(
                hash("before"),
                evidence(EvidenceStage::Before, &inspector, at),
            )],
        };
        let case = CaseDoc::create(&inspector, &actor_for(&Uuid::now_v7()), new)
            .expect("a valid report is accepted");
        Walk { case, now: at }
    }

    pub fn tick(&mut self) -> Millis {
        self.now += MINUTE;
        self.now
    }

    /// Appends through the checked path.
    pub fn step(&mut self, who: &Principal, event: CaseEvent) -> fieldloop_core::Result<Event> {
        let at = self.tick();
        self.case.append(who, &event, Uuid::now_v7(), at)
    }

    /// Writes straight into the log, as a device without the checks (or a bug) would.
    pub fn raw(&mut self, who: &Principal, event: CaseEvent) -> Event {
        let at = self.tick();
        let entry = event
            .to_event(Uuid::now_v7(), at, &who.user_id, who.role)
            .expect("event encodes");
        self.case
            .doc_mut()
            .append_event(&entry)
            .expect("raw append");
        entry
    }

    /// Attaches a photo of `stage` by `who`, returning its hash.
    pub fn photo(&mut self, who: &Principal, stage: EvidenceStage, label: &str) -> String {
        let at = self.tick();
        let h = hash(label);
        self.case
            .add_evidence(who, &h, &evidence(stage, who, at))
            .expect("photo attaches");
        h
    }

    pub fn register(&mut self) {
        self.step(&dispatcher(), CaseEvent::Registered(Registered::default()))
            .expect("register");
    }

    pub fn dispatch(&mut self, unit: &str) {
        self.step(
            &dispatcher(),
            CaseEvent::Dispatched(Dispatched {
                unit: unit.into(),
                note: None,
            }),
        )
        .expect("dispatch");
    }

    pub fn handle(&mut self, label: &str) {
        let h = self.photo(&handler(), EvidenceStage::After, label);
        self.step(
            &handler(),
            CaseEvent::Handled(Handled {
                note: Some("已清运".into()),
                photos: vec![h],
            }),
        )
        .expect("handle");
    }

    pub fn verify(&mut self, label: &str) {
        let h = self.photo(&inspector(), EvidenceStage::Verification, label);
        self.step(
            &inspector(),
            CaseEvent::VerificationSubmitted(VerificationSubmitted {
                fixed: true,
                note: None,
                photos: vec![h],
            }),
        )
        .expect("verify");
    }

    pub fn verdict(&mut self, passed: bool) {
        self.step(&server(), verdict(passed)).expect("verdict");
    }

    /// Reported, registered, dispatched to [`UNIT`].
    pub fn dispatched() -> Walk {
        let mut walk = Walk::reported();
        walk.register();
        walk.dispatch(UNIT);
        walk
    }
}

pub fn verdict(passed: bool) -> CaseEvent {
    CaseEvent::Verdict(Verdict {
        checks: vec![
            Check {
                name: "place".into(),
                passed: true,
                reason: "after-photo 12 m from the case".into(),
            },
            Check {
                name: "people".into(),
                passed,
                reason: if passed {
                    "verifier is not the handler".into()
                } else {
                    "after-photo reuses the before-photo".into()
                },
            },
        ],
    })
}

pub fn reason(text: &str) -> Reason {
    Reason {
        reason: text.into(),
    }
}

pub fn empty() -> Empty {
    Empty {}
}
