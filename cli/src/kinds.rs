//! The one list of kinds the command line knows (from [`Kind::ALL`]), the help text each verb
//! shows, and `TYPE NAME...` / `TYPE/NAME...` arguments as kubectl takes them.

use anyhow::{bail, Context};
use wasmpod_api::Kind;

/// `pods (po)`, `deployments (deploy)`, ... for the kinds `filter` keeps.
pub fn names(filter: impl Fn(Kind) -> bool) -> String {
    Kind::ALL
        .into_iter()
        .filter(|k| filter(*k))
        .map(|k| match k.short_names() {
            [] => k.plural().to_string(),
            short => format!("{} ({})", k.plural(), short.join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Help for a `TYPE` argument that takes the kinds `filter` keeps.
pub fn help(filter: impl Fn(Kind) -> bool) -> String {
    format!(
        "Kind, or TYPE/NAME: {} (singular, plural or short name)",
        names(filter)
    )
}

pub fn any(_: Kind) -> bool {
    true
}

pub fn scalable(kind: Kind) -> bool {
    matches!(kind, Kind::Deployment | Kind::StatefulSet)
}

pub fn user_writable(kind: Kind) -> bool {
    kind.user_creatable()
}

pub fn deletable(kind: Kind) -> bool {
    kind != Kind::Event
}

/// The kinds `get all` lists, as kubectl's `all`: what runs workloads and routes to them.
pub const ALL_ALIAS: [Kind; 5] = [
    Kind::Pod,
    Kind::Service,
    Kind::Ingress,
    Kind::Deployment,
    Kind::StatefulSet,
];

/// Parses a kind the way kubectl does; an unknown one is an error that lists every kind
/// `filter` accepts.
pub fn parse(text: &str, filter: impl Fn(Kind) -> bool + Copy) -> anyhow::Result<Kind> {
    match Kind::from_cli(text) {
        Some(kind) if filter(kind) => Ok(kind),
        Some(kind) => bail!(
            "{} cannot be used here; this command takes {}",
            kind.plural(),
            names(filter)
        ),
        None => bail!("unknown resource type {text:?}; known: {}", names(filter)),
    }
}

/// What a verb was asked about: kinds, each with the names given (none: every object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub name: Option<String>,
}

/// `deploy`, `deploy a b`, `deploy/a svc/b`, `deploy,svc`, `all`: kubectl's forms.
pub fn targets(
    args: &[String],
    filter: impl Fn(Kind) -> bool + Copy,
) -> anyhow::Result<Vec<Target>> {
    let Some(first) = args.first() else {
        bail!("name a kind: {}", names(filter));
    };
    if first.contains('/') {
        return args
            .iter()
            .map(|arg| {
                let (kind, name) = arg.split_once('/').with_context(|| {
                    format!("{arg:?}: after a TYPE/NAME argument every argument is TYPE/NAME")
                })?;
                if name.is_empty() {
                    bail!("{arg:?}: no name after the '/'");
                }
                Ok(Target {
                    kind: parse(kind, filter)?,
                    name: Some(name.to_string()),
                })
            })
            .collect();
    }
    let mut kinds = Vec::new();
    for part in first.split(',') {
        if part == "all" {
            kinds.extend(ALL_ALIAS.into_iter().filter(|k| filter(*k)));
        } else {
            kinds.push(parse(part, filter)?);
        }
    }
    let names = &args[1..];
    if let Some(bad) = names.iter().find(|n| n.contains('/')) {
        bail!("{bad:?}: there is a kind already ({first}); give names only, or TYPE/NAME for every argument");
    }
    if names.is_empty() {
        return Ok(kinds
            .into_iter()
            .map(|kind| Target { kind, name: None })
            .collect());
    }
    if kinds.len() != 1 {
        bail!("names go with one kind, not {first:?}");
    }
    Ok(names
        .iter()
        .map(|n| Target {
            kind: kinds[0],
            name: Some(n.clone()),
        })
        .collect())
}

/// One `TYPE NAME` or `TYPE/NAME` (scale, describe, edit ...).
pub fn single(
    args: &[String],
    filter: impl Fn(Kind) -> bool + Copy,
) -> anyhow::Result<(Kind, String)> {
    let targets = targets(args, filter)?;
    match targets.as_slice() {
        [Target {
            kind,
            name: Some(name),
        }] => Ok((*kind, name.clone())),
        [Target { kind, name: None }] => bail!(
            "name the {} (TYPE NAME or TYPE/NAME)",
            kind.as_str().to_lowercase()
        ),
        _ => bail!(
            "give one object (TYPE NAME or TYPE/NAME), not {}",
            targets.len()
        ),
    }
}

/// `deployment/hello`, as kubectl prints objects.
pub fn object_ref(kind: Kind, name: &str) -> String {
    format!("{}/{name}", kind.as_str().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kubectl_forms() {
        let t = targets(&args(&["deploy/a", "svc/b"]), any).unwrap();
        assert_eq!(
            t[0],
            Target {
                kind: Kind::Deployment,
                name: Some("a".into())
            }
        );
        assert_eq!(t[1].kind, Kind::Service);
        let t = targets(&args(&["deploy", "a", "b"]), any).unwrap();
        assert_eq!(t.len(), 2);
        let t = targets(&args(&["all"]), any).unwrap();
        assert_eq!(t.len(), ALL_ALIAS.len());
        let t = targets(&args(&["po,svc"]), any).unwrap();
        assert_eq!(t.len(), 2);
        assert!(targets(&args(&["deploy/a", "b"]), any).is_err());
        assert!(targets(&args(&["deploy", "x/a"]), any).is_err());
        assert_eq!(
            single(&args(&["deployment/hello"]), scalable).unwrap().1,
            "hello"
        );
    }

    #[test]
    fn an_unknown_kind_names_every_kind() {
        let e = parse("podz", any).unwrap_err().to_string();
        for kind in Kind::ALL {
            assert!(e.contains(kind.plural()), "{kind:?} missing from {e}");
        }
        let e = parse("pods", scalable).unwrap_err().to_string();
        assert!(
            e.contains("statefulsets") && !e.contains("ingresses"),
            "{e}"
        );
    }
}
