//! Which objects a list or watch returns: `?namespace=`, `?labelSelector=` and `?fieldSelector=`.
//! A selector that does not parse is refused with 400 naming the requirement at fault.

use super::ApiError;
use serde_json::Value;
use wasmpod_api::labels::{labels_of, FieldSelector, Selector};
use wasmpod_api::Kind;

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this namespace (None: every namespace, or a cluster kind).
    pub namespace: Option<String>,
    pub labels: Selector,
    pub fields: FieldSelector,
}

impl ListFilter {
    pub fn new(
        kind: Kind,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<ListFilter, ApiError> {
        let labels = Selector::parse(label_selector.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("labelSelector: {e}")))?;
        let fields = FieldSelector::parse(field_selector.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("fieldSelector: {e}")))?;
        Ok(ListFilter {
            namespace: namespace.filter(|_| kind.namespaced()).map(str::to_string),
            labels,
            fields,
        })
    }

    /// True when only the namespace (or nothing) narrows the selection.
    pub fn selects_by_content(&self) -> bool {
        !self.labels.is_empty() || !self.fields.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace {
            let object_ns = object
                .pointer("/metadata/namespace")
                .and_then(|v| v.as_str())
                .unwrap_or(wasmpod_api::DEFAULT_NAMESPACE);
            if object_ns != ns {
                return false;
            }
        }
        self.labels.matches(&labels_of(object)) && self.fields.matches(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_selector_is_a_400_naming_the_part() {
        let e = ListFilter::new(Kind::Pod, None, Some("app=a,tier in (x"), None).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("tier in (x"), "{}", e.message);
        let e = ListFilter::new(Kind::Pod, None, None, Some("spec.image=x")).unwrap_err();
        assert!(e.message.contains("spec.image"), "{}", e.message);
    }

    #[test]
    fn filters_by_namespace_labels_and_fields() {
        let filter = ListFilter::new(
            Kind::Pod,
            Some("dev"),
            Some("app=a"),
            Some("spec.nodeName=n"),
        )
        .unwrap();
        let pod = |ns: &str, app: &str, node: &str| {
            serde_json::json!({"metadata": {"name": "p", "namespace": ns, "labels": {"app": app}},
                "spec": {"nodeName": node}})
        };
        assert!(filter.matches(&pod("dev", "a", "n")));
        assert!(!filter.matches(&pod("prod", "a", "n")));
        assert!(!filter.matches(&pod("dev", "b", "n")));
        assert!(!filter.matches(&pod("dev", "a", "m")));
    }
}
