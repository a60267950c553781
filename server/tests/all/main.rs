//! Every server integration test in one binary (one link of the dependency tree, not six).

mod audit_chain;
mod auth;
mod binary;
mod blobs;
mod common;
mod console_api;
mod demo;
mod duplicates;
mod evaluation_scope;
mod group_commit;
mod listener;
mod login_throttle;
mod open311_media;
mod ops_config;
mod ops_errors;
mod ops_health;
mod reference;
mod storage;
mod storage_backends;
mod storage_services;
