//! Flags a node's runtime and listeners are sized with, shared by `up` and `worker`.

use anyhow::Context;
use clap::Args;
use std::path::Path;
use std::time::Duration;
use wasmpod_runtime::{Runtime, RuntimeConfig};
use wasmpod_worker::listener::ConnectionTimeouts;

#[derive(Debug, Args)]
pub struct NodeLimits {
    /// Size of the instance pool (pooling allocator slots; one instance takes a few)
    #[arg(long, env = "WASMPOD_MAX_INSTANCES", default_value = "1000")]
    pub max_instances: u32,
    /// A request that waits this long for a free instance is answered 503 (milliseconds)
    #[arg(long, default_value = "10000")]
    pub queue_timeout_ms: u64,
    /// A request head must arrive within this, from when a connection waits for one (milliseconds)
    #[arg(long, default_value = "30000")]
    pub header_read_timeout_ms: u64,
    /// A connection with no request and no traffic for this long is closed (milliseconds)
    #[arg(long, default_value = "15000")]
    pub idle_timeout_ms: u64,
}

impl NodeLimits {
    /// The process's runtime, compiling into `<data_dir>/compiled`.
    pub fn runtime(&self, data_dir: &Path) -> anyhow::Result<Runtime> {
        let mut config = RuntimeConfig::new(data_dir.join("compiled"));
        config.max_instances = self.max_instances;
        config.queue_timeout = Duration::from_millis(self.queue_timeout_ms);
        Runtime::new(config).context("cannot start the WebAssembly runtime")
    }

    pub fn timeouts(&self) -> anyhow::Result<ConnectionTimeouts> {
        ConnectionTimeouts::try_new(
            Duration::from_millis(self.header_read_timeout_ms),
            Duration::from_millis(self.idle_timeout_ms),
        )
        .context("--header-read-timeout-ms / --idle-timeout-ms")
    }
}
