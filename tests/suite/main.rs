//! baseimg's integration tests: one binary, one module per area. What they run against (the harness
//! that runs the binary, real registries, the World most tests build on) is the test-support crate,
//! `crates/testkit`, which the benchmarks and the demo share.
//!
//! The tests run on parallel threads of this one process: a test changes nothing process-wide (no
//! environment variable, no current directory, no panic hook); what a run of baseimg needs is given
//! to that run (`Test::env`, `Test::current_dir`).

mod architecture;
mod broken_catalogs;
mod build;
mod builders;
mod buildkit;
mod diagnostic_colour;
mod example_catalog;
mod example_images;
mod faults;
mod files;
mod fingerprint;
mod harness;
mod mirror;
mod no_panic;
mod platforms;
mod refresh;
mod services;
mod two_platform_fixtures;
mod wire;
