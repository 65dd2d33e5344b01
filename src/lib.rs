//! baseimg: a team's container base images, mirrored by digest and built on top of each other from one
//! declarative catalog.
//!
//! Data flows one way: [`catalog`] (+ [`lock`]) → [`graph`] → [`plan`] (using [`render`],
//! [`context`] and [`fingerprint`]) → execution. [`cli`] wires the commands to that flow.

pub mod build;
pub mod catalog;
pub mod cli;
pub mod context;
pub mod diagnostic;
pub mod docker;
pub mod dockerfile;
pub mod fingerprint;
pub mod fsutil;
pub mod graph;
pub mod lock;
pub mod mirror;
pub mod plan;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod render;
pub mod schedule;
pub mod sync;
pub mod upstream;
pub mod yaml;
