//! The due time and band a list shows (phone listing and server projection alike).

use fieldloop_core::case::events::DeadlineNotice;
use fieldloop_core::case::CaseEvent;
use fieldloop_core::schedule::case_clock;
use fieldloop_core::sla::{Band, Calendar};
use fieldloop_core::status::{bundled_reference, summarize};
use fieldloop_core::sync::client::listing_for;

use crate::case_support::*;

fn due(w: &Walk) -> fieldloop_core::status::Due {
    let reference = bundled_reference().expect("bundled reference loads");
    summarize(&w.case.doc().snapshot().unwrap(), Some(reference))
        .unwrap()
        .due
}

#[test]
fn nothing_is_due_before_dispatch() {
    let mut w = Walk::reported();
    w.register();
    assert_eq!(due(&w), Default::default());
    assert_eq!(listing_for(w.case.doc()).unwrap().deadline, None);
}

#[test]
fn a_dispatched_case_is_due_when_its_clock_says_and_starts_green() {
    let w = Walk::dispatched();
    let (catalogue, calendar) = bundled_reference().unwrap();
    let clock = case_clock(&w.case.state().unwrap(), catalogue, calendar, w.now)
        .unwrap()
        .expect("a clock after dispatch");
    let expected = Calendar::due(calendar, &clock).unwrap().due;
    let got = due(&w);
    assert_eq!(got.deadline, Some(expected));
    assert_eq!(got.band, Some(Band::Green));
    let listing = listing_for(w.case.doc()).unwrap();
    assert_eq!(listing.deadline, Some(expected));
    assert_eq!(listing.band.as_deref(), Some("green"));
}

#[test]
fn the_band_is_the_latest_the_server_wrote_and_a_new_dispatch_starts_green() {
    let mut w = Walk::dispatched();
    let first_due = due(&w).deadline.unwrap();
    let notice = DeadlineNotice {
        deadline: first_due,
    };
    w.step(&server(), CaseEvent::DeadlineWarning(notice.clone()))
        .expect("warning");
    assert_eq!(due(&w).band, Some(Band::Yellow));
    w.step(&server(), CaseEvent::Overdue(notice))
        .expect("overdue");
    assert_eq!(due(&w).band, Some(Band::Red));
    assert_eq!(
        listing_for(w.case.doc()).unwrap().band.as_deref(),
        Some("red")
    );

    w.step(
        &handler(),
        CaseEvent::ReturnedToDispatch(reason("非本单位职责")),
    )
    .unwrap();
    w.dispatch(OTHER_UNIT);
    let fresh = due(&w);
    assert_eq!(
        fresh.band,
        Some(Band::Green),
        "the new unit's clock is green"
    );
    assert!(
        fresh.deadline.unwrap() > first_due,
        "the clock restarts at the new dispatch"
    );
}
