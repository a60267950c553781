//! River patrols follow the plan (issue 9 §5): the chief's level comes from the chief,
//! the minimums from the plan's row for that level and the segment's warning level.

use chrono::NaiveDate;
use fieldloop_core::patrol::PatrolRequirement;
use fieldloop_core::plan::{ChiefLevel, FrequencyRow, FrequencyTable, Segment, WarningLevel};
use fieldloop_core::schedule::{chief_level, river_requirement, ChiefAssignment};
use fieldloop_core::time::MINUTE;

fn segment(id: &str, level: ChiefLevel, warning: WarningLevel) -> Segment {
    Segment {
        id: id.into(),
        name: id.into(),
        river: "西溪河".into(),
        chief_level: level,
        warning,
    }
}

#[test]
fn a_chiefs_level_is_the_highest_of_their_segments_not_the_patrolled_ones() {
    let segments = [
        segment("xixi-01", ChiefLevel::Village, WarningLevel::None),
        segment("shajiang-01", ChiefLevel::Town, WarningLevel::Orange),
    ];
    let town = ChiefAssignment {
        chief: "chief-town".into(),
        segments: vec!["xixi-01".into(), "shajiang-01".into()],
    };
    let village = ChiefAssignment {
        chief: "chief".into(),
        segments: vec!["xixi-01".into()],
    };
    assert_eq!(chief_level(&town, &segments), Some(ChiefLevel::Town));
    assert_eq!(chief_level(&village, &segments), Some(ChiefLevel::Village));
    let stranger = ChiefAssignment {
        chief: "x".into(),
        segments: vec!["nowhere".into()],
    };
    assert_eq!(chief_level(&stranger, &segments), None);
}

#[test]
fn the_minimums_come_from_the_plan_row_for_level_and_warning() {
    let mut table = FrequencyTable::bundled().unwrap();
    // A city that asks more of town chiefs on an orange segment.
    for row in table.rows.iter_mut() {
        if row.chief == ChiefLevel::Town && row.warning == WarningLevel::Orange {
            row.min_duration_min = 30;
            row.min_length_m = 2_500;
        }
    }
    let row: Option<&FrequencyRow> = table.lookup(
        ChiefLevel::Town,
        WarningLevel::Orange,
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    );
    assert!(row.is_some(), "the bundled table has the pair");
    let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let base = PatrolRequirement::default();
    let orange = segment("shajiang-01", ChiefLevel::Town, WarningLevel::Orange);
    let town = river_requirement(&table, ChiefLevel::Town, &orange, day, &base);
    assert_eq!(town.min_duration, 30 * MINUTE);
    assert_eq!(town.min_length_m, 2_500.0);
    assert_eq!(
        town.min_coverage, base.min_coverage,
        "coverage from the base"
    );
    let village = river_requirement(&table, ChiefLevel::Village, &orange, day, &base);
    assert_eq!(
        village.min_duration,
        10 * MINUTE,
        "the village row's own minimum"
    );
}
