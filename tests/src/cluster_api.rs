//! One interface for both harnesses, the single-node [`Cluster`] and the [`MultiNode`] cluster:
//! the CLI against the control plane, apply (checked, or its output for refusal tests), and the
//! API's objects decoded as the `wasmpod-api` types instead of indexed as raw JSON.
//!
//! The harnesses' own `apply` (an `Output` on one, checked stdout on the other) stay for the
//! tests written before this; new tests use these.

use crate::{succeeded, Cluster, MultiNode};
use std::path::Path;
use std::process::Output;
use wasmpod_api::{Pod, Resource};

pub trait ClusterApi {
    /// Runs the CLI against this cluster (as its admin).
    fn run_cli(&self, args: &[&str]) -> Output;

    /// The directory manifests are written to.
    fn work_dir(&self) -> &Path;

    /// The items of a kind as the API lists them, or why they could not be read.
    fn list_json(&self, plural: &str) -> Result<Vec<serde_json::Value>, String>;

    /// Runs the CLI, panicking with both streams if it fails; its stdout.
    fn run_cli_ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run_cli(args))
    }

    /// `wasmpod apply -f` of `yaml` written to the file `name`, whatever its outcome.
    fn try_apply(&self, name: &str, yaml: &str) -> Output {
        let path = self.work_dir().join(name);
        std::fs::write(&path, yaml).expect("write manifest");
        self.run_cli(&["apply", "-f", path.to_str().expect("utf-8 path")])
    }

    /// [`ClusterApi::try_apply`] that must succeed; its stdout.
    fn apply_ok(&self, name: &str, yaml: &str) -> String {
        let path = self.work_dir().join(name);
        std::fs::write(&path, yaml).expect("write manifest");
        self.run_cli_ok(&["apply", "-f", path.to_str().expect("utf-8 path")])
    }

    /// Every object of `T`'s kind, decoded; a read or an object that does not decode fails the
    /// test.
    fn objects<T: Resource>(&self) -> Vec<T> {
        self.list_json(T::KIND.plural())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|item| {
                serde_json::from_value(item.clone())
                    .unwrap_or_else(|e| panic!("a {} that does not decode: {e}: {item}", T::KIND))
            })
            .collect()
    }

    /// The pods labelled `app: APP`.
    fn pods_of_app(&self, app: &str) -> Vec<Pod> {
        self.objects::<Pod>()
            .into_iter()
            .filter(|p| p.metadata.labels.get("app").map(String::as_str) == Some(app))
            .collect()
    }
}

/// Both harnesses have `cli`, `work` and `try_items` of the same shape.
macro_rules! cluster_api {
    ($($harness:ty),*) => {$(
        impl ClusterApi for $harness {
            fn run_cli(&self, args: &[&str]) -> Output {
                self.cli(args)
            }

            fn work_dir(&self) -> &Path {
                self.work.path()
            }

            fn list_json(&self, plural: &str) -> Result<Vec<serde_json::Value>, String> {
                self.try_items(plural)
            }
        }
    )*};
}

cluster_api!(Cluster, MultiNode);
