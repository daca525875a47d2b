//! End-to-end tests: real `wasmpod` processes on loopback, spoken to over HTTP and the CLI.

mod auth;
mod bad_input;
mod cluster;
mod config;
mod foundation;
mod limits;
mod polyglot;
mod services;
mod storage;
