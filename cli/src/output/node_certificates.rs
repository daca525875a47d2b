//! The certificate columns of `get nodes -o wide` and the `Certificate:` section of `describe
//! node`: each node's newest certificate that is not revoked (its serial and when it expires),
//! from the control plane's issued certificates, so an operator sees rotation happen.

use chrono::{DateTime, Utc};
use wasmpod_api::revocation::IssuedCertificate;

/// The certificate `node` presents now: its unrevoked one that ends last.
fn newest<'a>(node: &str, certificates: &'a [IssuedCertificate]) -> Option<&'a IssuedCertificate> {
    certificates
        .iter()
        .filter(|c| c.name == node && c.revoked.is_none())
        .max_by_key(|c| c.not_after)
}

/// How long until `at` from `now`: `25s`, `14m`, `5h`, `364d`, or `expired`.
fn remaining(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match (at - now).num_seconds() {
        s if s <= 0 => "expired".into(),
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// When `c` expires, and how long until then.
fn expires(c: &IssuedCertificate, now: DateTime<Utc>) -> String {
    format!(
        "{} (in {})",
        c.not_after.format("%Y-%m-%dT%H:%M:%SZ"),
        remaining(c.not_after, now)
    )
}

/// The CERTIFICATE SERIAL and CERTIFICATE EXPIRES cells of each of `nodes`, in order.
pub fn cells(
    nodes: &[&str],
    certificates: &[IssuedCertificate],
    now: DateTime<Utc>,
) -> (Vec<String>, Vec<String>) {
    nodes
        .iter()
        .map(|node| match newest(node, certificates) {
            Some(c) => (c.serial.clone(), expires(c, now)),
            None => ("<none>".into(), "<none>".into()),
        })
        .unzip()
}

/// The `Certificate:` section of `describe node`: the node's current serial and expiry, or
/// nothing when it has none (a plain-HTTP cluster).
pub fn describe(
    node: &str,
    certificates: &[IssuedCertificate],
    now: DateTime<Utc>,
    out: &mut String,
) {
    if let Some(c) = newest(node, certificates) {
        out.push_str(&format!(
            "Certificate:\n  Serial:  {}\n  Expires: {}\n",
            c.serial,
            expires(c, now)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::revocation::CertificateKind;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("time")
    }

    fn certificate(node: &str, serial: &str, ends: i64, revoked: bool) -> IssuedCertificate {
        IssuedCertificate {
            name: node.into(),
            kind: CertificateKind::Node,
            serial: serial.into(),
            not_after: at(ends),
            revoked: revoked.then(|| at(0)),
        }
    }

    #[test]
    fn each_node_shows_its_newest_unrevoked_certificate() {
        let certificates = [
            certificate("node-a", "41aa", 10, false),
            certificate("node-a", "41bb", 40, false),
            certificate("node-a", "41cc", 90_000, true),
            certificate("node-b", "41dd", 4000, false),
        ];
        let (serials, expires) = cells(&["node-a", "node-b", "node-c"], &certificates, at(0));
        assert_eq!(serials, ["41bb", "41dd", "<none>"]);
        assert_eq!(
            expires,
            [
                "2027-01-15T08:00:40Z (in 40s)",
                "2027-01-15T09:06:40Z (in 66m)",
                "<none>"
            ]
        );
        assert_eq!(remaining(at(0), at(1)), "expired");
    }

    #[test]
    fn describe_shows_the_current_certificate_or_nothing() {
        let certificates = [
            certificate("node-a", "41aa", 10, false),
            certificate("node-a", "41bb", 40, false),
        ];
        let mut out = String::new();
        describe("node-a", &certificates, at(0), &mut out);
        assert_eq!(
            out,
            "Certificate:\n  Serial:  41bb\n  Expires: 2027-01-15T08:00:40Z (in 40s)\n"
        );
        let mut out = String::new();
        describe("node-c", &certificates, at(0), &mut out);
        assert_eq!(out, "", "no section for a node without a certificate");
    }
}
