//! Every core integration test in one binary: each test file used to link its own copy of
//! the whole dependency tree, which made a clean build need tens of gigabytes of disk.
//! (media_bomb stays apart: it installs a counting global allocator.)

mod case_catalogue;
mod case_dispatch_control;
mod case_duplicates;
mod case_lifecycle;
mod case_support;
mod data_sources;
mod evaluation_month;
mod field_conflicts;
mod fuzz_regressions;
mod geo_datum;
mod geo_spatial;
mod media_exif_tolerant;
mod media_inspect;
mod media_photos;
mod media_pipeline;
mod media_support;
mod merge_case;
mod notice_clauses_zh;
mod notice_flow;
mod notice_rules;
mod patrol_doc;
mod patrol_pauses;
mod patrol_plan_rules;
mod permissions_case;
mod permissions_validate;
mod plan_compute;
mod schedule_deadlines;
mod schedule_dispatch;
mod schedule_plans;
mod sla_calendar;
mod sla_deadline;
mod status_due;
mod store_device_key;
mod store_docs;
mod store_kill;
mod store_schema;
mod store_state;
mod store_support;
mod verify_case;
mod verify_custody;
mod verify_notice_patrol;
mod verify_real_photos;
mod verify_stalls;
