//! fieldloop's benchmarks beside their peers (issue 11), one module per section. The
//! binary (`src/main.rs`) runs them, prints a table and writes `bench/results/<date>.json`.

pub mod city;
pub mod error;
pub mod fleet;
pub mod load;
pub mod peer;
pub mod photo;
pub mod procfs;
pub mod scale;
pub mod server;
pub mod stats;
pub mod uploads;
pub mod verdicts;

pub use error::{BenchError, Result};

#[cfg(test)]
mod harness_test;
