//! List and watch responses: a list carries the store revision it was read at; a watch from that
//! revision streams every later change as newline-delimited JSON.

use crate::object::AnyObject;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    pub items: Vec<AnyObject>,
    pub revision: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WatchEventType {
    Added,
    Modified,
    Deleted,
    /// No change, only the revision the stream has reached (sent when idle).
    Bookmark,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchEvent {
    #[serde(rename = "type")]
    pub event_type: WatchEventType,
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<AnyObject>,
}
