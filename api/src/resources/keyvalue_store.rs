//! KeyValueStores: the named stores pods open through `wasi:keyvalue` (a pod lists the names it
//! may open in `spec.keyValueStores`). A store keeps its data in Redis (shared by every node) or
//! embedded in the node's process (a sled tree in its data directory: durable, but seen only by
//! the pods of that process).

use super::pod::KeyRef;
use super::NoStatus;
use crate::error::ValidationError;
use crate::name::validate_label;
use crate::object::Object;
use serde::{Deserialize, Serialize};

pub type KeyValueStore = Object<KeyValueStoreSpec, NoStatus>;

/// Exactly one backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyValueStoreSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisBackend>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedBackend>,
}

/// A Redis server: `redis://host:port/db`; its password from a Secret's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisBackend {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<KeyRef>,
}

/// The node process' own store (no settings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedBackend {}

impl KeyValueStoreSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        match (&self.redis, &self.embedded) {
            (Some(redis), None) => redis.validate("spec.redis"),
            (None, Some(_)) => Ok(()),
            _ => Err(ValidationError::new(
                "spec",
                "set exactly one backend: redis: {url: ...} or embedded: {}",
            )),
        }
    }
}

impl RedisBackend {
    fn validate(&self, field: &str) -> Result<(), ValidationError> {
        let rest = self.url.strip_prefix("redis://").ok_or_else(|| {
            ValidationError::new(
                format!("{field}.url"),
                format!("{:?} must start with redis://", self.url),
            )
        })?;
        let authority = rest.split('/').next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(ValidationError::new(
                format!("{field}.url"),
                format!("{:?} names no host (redis://host:port/db)", self.url),
            ));
        }
        if let Some(db) = rest.split_once('/').map(|(_, db)| db) {
            if !db.is_empty() && db.parse::<u32>().is_err() {
                return Err(ValidationError::new(
                    format!("{field}.url"),
                    format!("{:?}: the database after / must be a number", self.url),
                ));
            }
        }
        if let Some(secret) = &self.password_secret_ref {
            validate_label(&secret.name)
                .map_err(|e| ValidationError::new(format!("{field}.passwordSecretRef.name"), e))?;
            crate::name::validate_data_key(&secret.key)
                .map_err(|e| ValidationError::new(format!("{field}.passwordSecretRef.key"), e))?;
        }
        Ok(())
    }
}

/// Checks a pod's `keyValueStores`: store names (DNS labels), each once.
pub fn validate_store_names(field: &str, names: &[String]) -> Result<(), ValidationError> {
    for (i, name) in names.iter().enumerate() {
        validate_label(name).map_err(|e| ValidationError::new(format!("{field}[{i}]"), e))?;
        if names[..i].contains(name) {
            return Err(ValidationError::new(
                format!("{field}[{i}]"),
                format!("{name:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<(), String> {
        let spec: KeyValueStoreSpec = serde_json::from_str(json).map_err(|e| e.to_string())?;
        spec.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn a_store_has_exactly_one_valid_backend() {
        assert_eq!(spec(r#"{"embedded": {}}"#), Ok(()));
        assert_eq!(
            spec(r#"{"redis": {"url": "redis://127.0.0.1:6379/0"}}"#),
            Ok(())
        );
        assert_eq!(
            spec(
                r#"{"redis": {"url": "redis://db", "passwordSecretRef": {"name": "pw", "key": "password"}}}"#
            ),
            Ok(())
        );
        assert!(spec("{}").unwrap_err().contains("exactly one backend"));
        let both = spec(r#"{"embedded": {}, "redis": {"url": "redis://db"}}"#);
        assert!(both.unwrap_err().contains("exactly one backend"));
        let http = spec(r#"{"redis": {"url": "http://db"}}"#).unwrap_err();
        assert!(
            http.contains("spec.redis.url") && http.contains("redis://"),
            "{http}"
        );
        let no_host = spec(r#"{"redis": {"url": "redis://:6379"}}"#).unwrap_err();
        assert!(no_host.contains("names no host"), "{no_host}");
        let db = spec(r#"{"redis": {"url": "redis://db/x"}}"#).unwrap_err();
        assert!(db.contains("must be a number"), "{db}");
        let unknown = spec(r#"{"embedded": {"path": "/tmp"}}"#).unwrap_err();
        assert!(unknown.contains("unknown field"), "{unknown}");
        let secret = spec(
            r#"{"redis": {"url": "redis://db", "passwordSecretRef": {"name": "Bad_Name", "key": "k"}}}"#,
        )
        .unwrap_err();
        assert!(secret.contains("passwordSecretRef.name"), "{secret}");
    }

    #[test]
    fn store_names_are_labels_listed_once() {
        let f = "spec.keyValueStores";
        assert!(validate_store_names(f, &["default".into(), "sessions".into()]).is_ok());
        let bad = validate_store_names(f, &["ok".into(), "Not OK".into()]).unwrap_err();
        assert!(bad.to_string().contains("keyValueStores[1]"), "{bad}");
        let twice = validate_store_names(f, &["a".into(), "a".into()]).unwrap_err();
        assert!(twice.to_string().contains("listed twice"), "{twice}");
    }
}
