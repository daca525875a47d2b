//! End-to-end tests: real `wasmpod` processes on loopback, spoken to over HTTP and the CLI.

mod bad_input;
mod cluster;
mod config;
mod durability;
mod foundation;
mod limits;
mod node_safety;
mod overload;
mod polyglot;
mod services;
mod storage;
