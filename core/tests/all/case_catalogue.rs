//! The category catalogue: the built-in data loads and is coherent, lookups work, and bad
//! codes and bad catalogue files get typed errors.

use std::collections::HashSet;

use fieldloop_core::catalogue::{
    parse_category_key, parse_component_id, parse_grid_cell, validate_category_code, CaseKind,
    Catalogue, Urgency,
};
use fieldloop_core::sla::LimitUnit;
use fieldloop_core::Error;

fn builtin() -> Catalogue {
    Catalogue::builtin().expect("the built-in catalogue is valid")
}

#[test]
fn builtin_has_at_least_forty_coherent_categories() {
    let cat = builtin();
    assert!(cat.len() >= 40, "only {} categories", cat.len());
    let components = cat.iter().filter(|c| c.kind == CaseKind::Component).count();
    let events = cat.iter().filter(|c| c.kind == CaseKind::Event).count();
    assert!(
        components >= 20 && events >= 20,
        "{components} 部件, {events} 事件"
    );
    let mut keys = HashSet::new();
    for c in cat.iter() {
        validate_category_code(&c.code).unwrap();
        assert!(keys.insert(c.key()), "{} twice", c.key());
        assert!(!c.source.trim().is_empty(), "{} has no source", c.key());
        assert!(
            !c.unit_type.trim().is_empty(),
            "{} has no unit type",
            c.key()
        );
        assert!(c.radius_m >= 50.0 && c.radius_m <= 150.0, "{}", c.key());
        for urgency in [Urgency::Normal, Urgency::Urgent] {
            let limits = c.limits_for(urgency);
            assert!(!limits.steps.is_empty());
            assert!(limits.steps.iter().all(|s| s.limit.amount > 0));
            // A defaulted limit must say so in its source.
            if limits.default {
                assert!(c.source.contains("default"), "{}: {}", c.key(), c.source);
            }
        }
        if let Some(gb) = &c.gb47678 {
            assert_eq!(gb.len(), 5, "{}", c.key());
        }
    }
    // Most limits are not from any source: the data must admit it.
    let defaulted = cat.iter().filter(|c| c.limits.normal.default).count();
    assert!(defaulted > 20, "{defaulted}");
    assert!(cat.version().starts_with("2026"));
}

#[test]
fn lookups_by_kind_and_code_and_by_key() {
    let cat = builtin();
    // 事件 0101 私搭乱建: three steps, from the unnamed district of S2.
    let illegal_building = cat.get(CaseKind::Event, "0101").unwrap();
    assert!(illegal_building.name.starts_with("私搭乱建"));
    let steps = &illegal_building.limits_for(Urgency::Normal).steps;
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0].step, "停止施工");
    assert_eq!(steps[0].limit.amount, 4);
    assert_eq!(steps[0].limit.unit, LimitUnit::WorkingHours);
    assert_eq!(steps[2].limit.amount, 20);
    assert_eq!(steps[2].limit.unit, LimitUnit::WorkingDays);
    assert!(!illegal_building.limits.normal.default);

    // 部件 0101 shares the number but is a manhole cover, near which photos must be.
    let cover = cat.get(CaseKind::Component, "0101").unwrap();
    assert_eq!(cover.name, "上水井盖");
    assert_eq!(cover.radius_m, 50.0);
    assert_eq!(cover.gb47678.as_deref(), Some("01001"));
    assert_eq!(cover.limits.urgent.steps.len(), 2);

    let litter = cat.get_by_key("20102").unwrap();
    assert_eq!(litter.name, "暴露垃圾");
    assert_eq!(litter.limits.normal.steps[0].limit.amount, 4);
    assert_eq!(litter.key(), "20102");

    let lamp = cat.get_by_key("10118").unwrap();
    assert_eq!(lamp.name, "路灯");
    assert!(
        lamp.limits.normal.default,
        "no source gives a street-lamp limit"
    );

    assert!(matches!(
        cat.get(CaseKind::Event, "0999"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        cat.get(CaseKind::Event, "01a1"),
        Err(Error::Invalid {
            what: "category code",
            ..
        })
    ));
    assert!(matches!(
        cat.get_by_key("30101"),
        Err(Error::Invalid {
            what: "category key",
            ..
        })
    ));
    assert!(matches!(
        cat.get_by_key("井0101"),
        Err(Error::Invalid {
            what: "category key",
            ..
        })
    ));
}

#[test]
fn category_codes_are_two_plus_two_digits() {
    assert_eq!(validate_category_code("0101").unwrap(), (1, 1));
    assert_eq!(validate_category_code("0510").unwrap(), (5, 10));
    for bad in [
        "",
        "101",
        "01011",
        "0a01",
        "0001",
        "0100",
        " 101",
        "０１０１",
    ] {
        assert!(
            matches!(
                validate_category_code(bad),
                Err(Error::Invalid {
                    what: "category code",
                    ..
                })
            ),
            "{bad:?} accepted"
        );
    }
    assert_eq!(
        parse_category_key("10113").unwrap(),
        (CaseKind::Component, "0113")
    );
    assert!(parse_category_key("").is_err());
}

#[test]
fn component_ids_and_grid_cells() {
    let id = parse_component_id("1101050101000042").unwrap();
    assert_eq!(id.admin, "110105");
    assert_eq!(id.category, "0101");
    assert_eq!(id.serial, "000042");
    for bad in [
        "110105010100004",   // 15 digits
        "11010501010000421", // 17
        "110105010100004x",
        "9901050101000042", // no province 99
        "1101050001000042", // 大类 00
    ] {
        assert!(
            matches!(
                parse_component_id(bad),
                Err(Error::Invalid {
                    what: "component id",
                    ..
                })
            ),
            "{bad} accepted"
        );
    }

    let cell = parse_grid_cell("110105001002003").unwrap();
    assert_eq!(
        (
            cell.admin.as_str(),
            cell.street.as_str(),
            cell.community.as_str(),
            cell.cell.as_str()
        ),
        ("110105", "001", "002", "003")
    );
    for bad in [
        "11010500100200",
        "1101050010020031",
        "11010500100200a",
        "100105001002003",
    ] {
        assert!(
            matches!(
                parse_grid_cell(bad),
                Err(Error::Invalid {
                    what: "grid cell",
                    ..
                })
            ),
            "{bad} accepted"
        );
    }
}

const ONE: &str = r#"{"version":"t","categories":[{"kind":"event","code":"0102","major":"市容环境",
 "name":"暴露垃圾","limits":{"normal":{"steps":[{"step":"处置","amount":4,"unit":"working_hours"}]},
 "urgent":{"steps":[{"step":"处置","amount":2,"unit":"working_hours"}],"default":true}},
 "radius_m":100,"unit_type":"环卫","source":"S2"}]}"#;

fn invalid_catalogue(json: &str) -> String {
    match Catalogue::from_json(json) {
        Err(Error::Invalid {
            what: "category catalogue",
            reason,
        }) => reason,
        Err(Error::Invalid { what, reason }) => format!("{what}: {reason}"),
        other => panic!("expected an invalid catalogue, got {other:?}"),
    }
}

#[test]
fn a_catalogue_file_is_validated() {
    let cat = Catalogue::from_json(ONE).unwrap();
    assert_eq!(cat.len(), 1);
    let c = cat.get(CaseKind::Event, "0102").unwrap();
    assert!(!c.limits.normal.default);
    assert!(c.limits.urgent.default);

    let entry = &ONE[ONE.find("{\"kind\"").unwrap()..ONE.rfind(']').unwrap()];
    let two = ONE.replacen(entry, &format!("{entry},{entry}"), 1);
    assert!(invalid_catalogue(&two).contains("twice"));
    assert!(
        invalid_catalogue(&ONE.replace("\"radius_m\":100", "\"radius_m\":5000")).contains("radius")
    );
    assert!(invalid_catalogue(&ONE.replace("\"amount\":4", "\"amount\":0")).contains("zero"));
    assert!(
        invalid_catalogue(&ONE.replace("\"code\":\"0102\"", "\"code\":\"102\""))
            .contains("category code")
    );
    assert!(
        invalid_catalogue(&ONE.replace("working_hours", "fortnights")).contains("unknown variant")
    );
    assert!(invalid_catalogue(&ONE.replace(
        "\"steps\":[{\"step\":\"处置\",\"amount\":4,\"unit\":\"working_hours\"}]",
        "\"steps\":[]"
    ))
    .contains("no normal time limit"));
    assert!(invalid_catalogue("{").contains("EOF"));
}
