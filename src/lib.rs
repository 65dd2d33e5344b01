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
pub mod clock;
pub mod commands;
pub mod context;
pub mod cooldown;
pub mod credentials;
pub mod daemon_address;
pub mod diagnostic;
pub mod docker;
pub mod dockerfile;
pub mod events;
pub mod executor;
pub mod failure;
pub mod fingerprint;
pub mod fsutil;
pub mod graph;
pub mod history;
pub mod lock;
pub mod mirror;
pub mod night;
pub mod plan;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod render;
pub mod report;
pub mod run_lock;
pub mod schedule;
pub mod service;
pub mod smoke;
pub mod text;
pub mod timeline;
pub mod upstream;
pub mod workspace;
pub mod yaml;
