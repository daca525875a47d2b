//! Services: a stable name (`NAME`, `NAME.NAMESPACE`) for the ready pods a label selector picks;
//! guests call it over `wasi:http`, ingresses route to it.

use super::NoStatus;
use crate::error::ValidationError;
use crate::labels::Labels;
use crate::object::Object;
use serde::{Deserialize, Serialize};

/// A stable name selecting pods by label; load-balanced over ready replicas.
pub type Service = Object<ServiceSpec, NoStatus>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    #[serde(default)]
    pub selector: Labels,
}

impl ServiceSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.selector.is_empty() {
            return Err(ValidationError::new(
                "spec.selector",
                "must not be empty: name the labels of the pods this service sends traffic to",
            ));
        }
        Ok(())
    }
}
