//! baseimg: a team's container base images, mirrored by digest and built on top of each other from one
//! declarative catalog.
//!
//! Data flows one way: [`catalog`] (+ [`lock`]) → [`graph`] → [`plan`] (using [`render`],
//! [`context`] and [`fingerprint`]) → execution ([`mirror`], [`executor`], through [`registry`] and
//! [`docker`], scheduled by [`schedule`]) → a report. The nightly job, [`night`], runs the mirror and
//! build pipelines in turn. Each subcommand is one file of [`commands`]: it opens the [`workspace`],
//! runs a pipeline and returns a typed report; [`report`] draws it as text, JSON, Markdown or HTML;
//! [`cli`] parses arguments and maps outcomes to exit codes.

pub mod catalog;
pub mod cli;
pub(crate) mod clock;
pub(crate) mod commands;
pub(crate) mod context;
pub(crate) mod cooldown;
pub(crate) mod credentials;
pub(crate) mod daemon_address;
pub(crate) mod diagnostic;
pub(crate) mod docker;
pub(crate) mod dockerfile;
pub(crate) mod events;
pub(crate) mod executor;
pub(crate) mod failure;
pub(crate) mod fingerprint;
pub(crate) mod fsutil;
pub mod graph;
pub mod history;
pub mod lock;
pub(crate) mod mirror;
pub(crate) mod night;
pub mod plan;
pub(crate) mod platform;
pub(crate) mod progress;
pub mod reference;
pub mod registry;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod run_lock;
pub(crate) mod schedule;
pub(crate) mod service;
pub(crate) mod smoke;
pub(crate) mod text;
pub(crate) mod timeline;
pub(crate) mod upstream;
pub(crate) mod workspace;
pub(crate) mod yaml;
