//! `GET /api/v1/whoami`: who the bearer token proves the caller is, and which namespaces it may
//! read — what `kubectl auth whoami` asks of Kubernetes (a SelfSubjectReview), plus the token's
//! namespace scope, which wasmpod keeps on the token. The dashboard asks it first, to know
//! whether to show every namespace (with a selector) or only the token's own.

use super::auth::Identity;
use axum::{Extension, Json};
use wasmpod_api::tokens::Role;
use wasmpod_api::whoami::WhoAmI;

/// What the caller `identity` is told about itself.
pub fn of(identity: &Identity) -> WhoAmI {
    let (role, namespaces) = match identity {
        Identity::Admin => (Some(Role::Admin), None),
        Identity::User(holder) => (
            Some(holder.role),
            holder.namespace.as_ref().map(|ns| vec![ns.clone()]),
        ),
        Identity::Bootstrap | Identity::Node(_) | Identity::Peer => (None, None),
    };
    WhoAmI {
        identity: identity.to_string(),
        role,
        namespaces,
    }
}

pub async fn whoami(Extension(identity): Extension<Identity>) -> Json<WhoAmI> {
    Json(of(&identity))
}

#[cfg(test)]
mod tests {
    use super::super::auth::{action, authorize, ClusterFacts, PodBinding, Verb};
    use super::*;
    use crate::user_tokens::TokenHolder;
    use axum::http::Method;

    struct NoFacts;
    impl ClusterFacts for NoFacts {
        fn pod_binding(&self, _: &str, _: &str) -> PodBinding {
            PodBinding::Missing
        }
        fn is_ingress_certificate(&self, _: &str, _: &str) -> bool {
            false
        }
    }

    fn viewer(namespace: Option<&str>) -> Identity {
        Identity::User(TokenHolder {
            name: "dash".to_string(),
            role: Role::View,
            namespace: namespace.map(str::to_string),
        })
    }

    #[test]
    fn a_namespaced_token_learns_its_namespace() {
        let who = of(&viewer(Some("dev")));
        assert_eq!(who.role, Some(Role::View));
        assert_eq!(who.namespaces, Some(vec!["dev".to_string()]));
        assert_eq!(who.identity, r#"token "dash" (role view, namespace dev)"#);
        let json = serde_json::to_value(&who).expect("serializes");
        assert_eq!(json["namespaces"], serde_json::json!(["dev"]));
    }

    #[test]
    fn the_admin_and_a_cluster_wide_token_read_every_namespace() {
        assert_eq!(of(&Identity::Admin).namespaces, None);
        assert_eq!(of(&Identity::Admin).role, Some(Role::Admin));
        assert_eq!(of(&viewer(None)).namespaces, None);
    }

    #[test]
    fn every_token_may_ask_who_it_is_and_the_join_token_may_not() {
        let ask = action("/api/v1/whoami", &Method::GET, &[], None, false).expect("a rule");
        assert_eq!(ask.verb, Verb::WhoAmI);
        for identity in [Identity::Admin, viewer(Some("dev")), viewer(None)] {
            assert_eq!(authorize(&identity, &ask, &NoFacts), Ok(()), "{identity}");
        }
        assert!(authorize(&Identity::Bootstrap, &ask, &NoFacts).is_err());
    }
}
