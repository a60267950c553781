//! Photo reuse judged on real camera photos through the real photo pipeline: an
//! after-photo that is the before-photo re-encoded and resized fails, a photo of another
//! scene passes. Skipped (and says so) when ../shared/photos is absent.

use crate::case_support;
use crate::media_support;

use std::collections::BTreeMap;

use case_support::*;
use fieldloop_core::case::events::Handled;
use fieldloop_core::case::CaseEvent;
use fieldloop_core::catalogue::Catalogue;
use fieldloop_core::doc::EvidenceStage;
use fieldloop_core::media::{hamming, process_photo, PhotoLimits, ProcessOptions, ProcessedPhoto};
use fieldloop_core::sla::Calendar;
use fieldloop_core::time::MINUTE;
use fieldloop_core::verify::{
    checks, verify_case, Arrivals, CaseVerification, Outcome, ReuseIndex, UploadedPhoto,
    VerifyPolicy,
};

fn process(bytes: &[u8], long_edge: u32) -> ProcessedPhoto {
    let options = ProcessOptions {
        long_edge,
        ..ProcessOptions::default()
    };
    process_photo(bytes, &PhotoLimits::default(), &options).expect("a real photo processes")
}

/// A case whose before-photo is `before` and whose handler sends `after`; the verdict.
fn judge(before: &ProcessedPhoto, after: &ProcessedPhoto) -> fieldloop_core::case::Verdict {
    judge_with(before, after, &ReuseIndex::default())
}

/// [`judge`] with other cases' evidence.
fn judge_with(
    before: &ProcessedPhoto,
    after: &ProcessedPhoto,
    reuse: &ReuseIndex,
) -> fieldloop_core::case::Verdict {
    let mut walk = Walk::dispatched();
    let at = walk.tick();
    walk.case
        .add_evidence(
            &handler(),
            &after.content_hash,
            &evidence(EvidenceStage::After, &handler(), at),
        )
        .unwrap();
    walk.step(
        &handler(),
        CaseEvent::Handled(Handled {
            note: None,
            photos: vec![after.content_hash.clone()],
        }),
    )
    .unwrap();
    walk.verify("verification");

    let received = |phash| UploadedPhoto {
        hash_matches: true,
        decodable: true,
        phash: Some(phash),
    };
    let mut uploads = BTreeMap::new();
    // The fixture's before-photo stands for `before`'s bytes.
    uploads.insert(hash("before"), received(before.phash));
    uploads.insert(after.content_hash.clone(), received(after.phash));
    uploads.insert(hash("verification"), received(!before.phash));
    let snapshot = walk.case.snapshot().unwrap();
    match verify_case(&CaseVerification {
        snapshot: &snapshot,
        catalogue: &Catalogue::builtin().unwrap(),
        calendar: &Calendar::bundled().unwrap(),
        uploads: &uploads,
        arrivals: &Arrivals::default(),
        reuse,
        people: None,
        policy: &VerifyPolicy::default(),
        now: walk.now + MINUTE,
        grid: None,
        custody: None,
    })
    .unwrap()
    {
        Outcome::Judged { verdict } => verdict,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reencoded_before_photo_is_caught_and_another_scene_is_not() {
    let Some(dir) = media_support::photos_dir("a_reencoded_before_photo_is_caught") else {
        return;
    };
    let scene_a = std::fs::read(dir.join("coolpix-gps-a.jpg")).expect("photo readable");
    let scene_b = std::fs::read(dir.join("coolpix-gps-b.jpg")).expect("photo readable");
    let before = process(&scene_a, 1600);
    // The before-photo's processed file, re-encoded smaller: new bytes, same picture.
    let copy = process(&before.jpeg, 480);
    let other = process(&scene_b, 1600);
    assert_ne!(copy.content_hash, before.content_hash);
    let (d_copy, d_other) = (
        hamming(before.phash, copy.phash),
        hamming(before.phash, other.phash),
    );
    println!("pHash distance: re-encoded copy {d_copy}, other scene {d_other} bits");

    let verdict = judge(&before, &copy);
    let reuse = verdict
        .checks
        .iter()
        .find(|c| c.name == checks::REUSE)
        .unwrap();
    assert!(!reuse.passed, "{reuse:?}");
    assert!(reuse.reason.contains("before-photo"), "{}", reuse.reason);

    let verdict = judge(&before, &other);
    assert!(verdict.passed(), "{verdict:#?}");
}

#[test]
fn the_same_scene_shot_again_for_another_case_is_caught() {
    let Some(dir) = media_support::photos_dir("the_same_scene_shot_again_for_another_case") else {
        return;
    };
    let off = process(
        &std::fs::read(dir.join("canon-rot90-hdr-off.jpg")).expect("photo readable"),
        1600,
    );
    let on = process(
        &std::fs::read(dir.join("canon-rot90-hdr-on.jpg")).expect("photo readable"),
        1600,
    );
    let scene_a = process(
        &std::fs::read(dir.join("coolpix-gps-a.jpg")).expect("photo readable"),
        1600,
    );
    println!(
        "pHash distance HDR off/on: {} bits",
        hamming(off.phash, on.phash)
    );
    // `on` closed another case; this handler sends `off`, the same scene shot twice.
    let other_case = uuid::Uuid::now_v7();
    let mut index = ReuseIndex::default();
    index.phashes.push(fieldloop_core::verify::OtherEvidence {
        case_id: other_case,
        hash: on.content_hash.clone(),
        phash: on.phash,
    });
    let verdict = judge_with(&scene_a, &off, &index);
    let reuse = verdict
        .checks
        .iter()
        .find(|c| c.name == checks::REUSE)
        .unwrap();
    assert!(!reuse.passed, "{reuse:?}");
    assert!(
        reuse.reason.contains(&other_case.to_string()),
        "{}",
        reuse.reason
    );
}
