//! End-to-end tests: real `wasmpod` processes on loopback, spoken to over HTTP and the CLI.

mod auth;
mod bad_input;
mod cli;
mod cluster;
mod command_pods;
mod concurrent_writes;
mod config;
mod durability;
mod etcd_store;
mod foundation;
mod ha;
mod ha_faults;
mod hostile_guests;
mod ingress_tls;
mod kubectl;
mod limits;
mod node_safety;
mod overload;
mod polyglot;
mod roles;
mod rollout;
mod services;
mod storage;
mod traffic;
mod transport;
mod volumes;
