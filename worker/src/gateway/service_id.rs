//! A service's identity in the routing table and on the wire between gateways: its namespace and
//! name (written `namespace/name`), and the host forms a guest may call it by.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    pub namespace: String,
    pub name: String,
}

impl ServiceId {
    pub fn new(namespace: &str, name: &str) -> ServiceId {
        ServiceId {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// Reads `namespace/name` (the form forwarded between gateways).
    pub fn parse(text: &str) -> Option<ServiceId> {
        let (namespace, name) = text.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains('/'))
            .then(|| ServiceId::new(namespace, name))
    }

    /// The service a guest of `namespace` names by `host`: `NAME`, `NAME.svc`, `NAME.NS`,
    /// `NAME.NS.svc`, each optionally followed by `.cluster.local`.
    pub fn from_host(host: &str, namespace: &str) -> Option<ServiceId> {
        let host = host.trim_end_matches(".cluster.local");
        let parts: Vec<&str> = host.split('.').collect();
        match parts.as_slice() {
            [name] | [name, "svc"] => Some(ServiceId::new(namespace, name)),
            [name, ns] | [name, ns, "svc"] => Some(ServiceId::new(ns, name)),
            _ => None,
        }
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(host: &str) -> Option<String> {
        ServiceId::from_host(host, "default").map(|id| id.to_string())
    }

    #[test]
    fn service_hosts_resolve_in_the_callers_namespace_or_the_named_one() {
        assert_eq!(host("backend").as_deref(), Some("default/backend"));
        assert_eq!(host("backend.svc").as_deref(), Some("default/backend"));
        assert_eq!(host("backend.shop").as_deref(), Some("shop/backend"));
        assert_eq!(
            host("backend.shop.svc.cluster.local").as_deref(),
            Some("shop/backend")
        );
        assert_eq!(host("api.example.com"), None);
    }

    #[test]
    fn forwarded_ids_parse_back() {
        let id = ServiceId::new("shop", "cart");
        assert_eq!(ServiceId::parse(&id.to_string()), Some(id));
        assert_eq!(ServiceId::parse("cart"), None);
        assert_eq!(ServiceId::parse("/cart"), None);
        assert_eq!(ServiceId::parse("a/b/c"), None);
    }
}
