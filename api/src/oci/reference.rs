//! An OCI reference: `REGISTRY/REPOSITORY[:TAG][@sha256:HEX]`. The registry is always named
//! (`host`, `host:port`); there is no default registry. With both a tag and a digest the digest
//! is what is pulled and the tag is kept for display (`reg/repo:v1@sha256:...`).

use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reference:?} is not an OCI reference (REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST): {problem}")]
pub struct ReferenceError {
    pub reference: String,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host` or `host:port`.
    pub registry: String,
    /// `path/name`, lowercase.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let err = |problem: &str| ReferenceError {
            reference: text.to_string(),
            problem: problem.to_string(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(err(
                        "the digest must be sha256: and 64 lowercase hex digits",
                    ));
                }
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| err("no registry: name it first, e.g. registry.example.com/app:v1"))?;
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(err("the registry must be a host name or host:port"));
        }
        if let Some((_, port)) = registry
            .rsplit_once(':')
            .filter(|_| !registry.ends_with(']'))
        {
            if port.parse::<u16>().is_err() {
                return Err(err("the registry's port is not a number"));
            }
        }
        // A tag follows the last ':' after the last '/'.
        let last = path.rsplit('/').next().unwrap_or(path);
        let (repository, tag) = match last.rsplit_once(':') {
            Some((_, tag)) => (&path[..path.len() - tag.len() - 1], Some(tag.to_string())),
            None => (path, None),
        };
        if !repository.split('/').all(is_path_component) {
            return Err(err(
                "the repository must be lowercase letters, digits and . _ - separated by /",
            ));
        }
        if let Some(tag) = &tag {
            if !is_tag(tag) {
                return Err(err(
                    "the tag must be at most 128 letters, digits, _ . - (not starting with . or -)",
                ));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(err("name a tag (:v1) or a digest (@sha256:...)"));
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or_default()
    }

    /// The same reference pinned to `digest` (the tag kept for display).
    pub fn pinned(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn is_path_component(part: &str) -> bool {
    let bytes = part.as_bytes();
    !bytes.is_empty()
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn is_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse_into_registry_repository_tag_and_digest() {
        let r = Reference::parse("127.0.0.1:5000/team/hello:v1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/hello");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest, None);
        assert_eq!(r.target(), "v1");
        let pinned = Reference::parse(&format!("ghcr.io/a/b@{D}")).unwrap();
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.target(), D);
        let both = r.pinned(D);
        assert_eq!(
            both.to_string(),
            format!("127.0.0.1:5000/team/hello:v1@{D}")
        );
        assert_eq!(Reference::parse(&both.to_string()).unwrap(), both);
        assert_eq!(both.target(), D);
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (bad, problem) in [
            ("hello:v1", "no registry"),
            ("reg.io/hello", "name a tag"),
            ("reg.io/Hello:v1", "lowercase"),
            ("reg.io/hello:-v1", "the tag"),
            ("reg.io/hello@sha256:abc", "digest"),
            ("reg.io:99999/hello:v1", "port"),
            ("reg.io//hello:v1", "lowercase"),
            ("reg io/hello:v1", "host name"),
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(e.to_string().contains(problem), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }
}
