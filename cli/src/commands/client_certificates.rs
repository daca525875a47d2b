//! `get client-certificates` (every tool certificate the cluster CA issued: name, serial, end of
//! validity, revoked or not) and `delete client-certificate NAME` (revokes them: every node
//! refuses them within seconds). Admin only, on a TLS cluster.

use super::ApiArgs;
use crate::output::{Format, Table};
use wasmpod_api::revocation::IssuedCertificate;

/// Whether `word` names client certificates on the command line.
pub fn names_them(word: &str) -> bool {
    matches!(
        word,
        "client-certificate" | "client-certificates" | "clientcertificate" | "clientcertificates"
    )
}

/// A table row of `certificate`.
fn row(certificate: &IssuedCertificate) -> Vec<String> {
    vec![
        certificate.name.clone(),
        certificate.serial.clone(),
        certificate
            .not_after
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        match certificate.revoked {
            Some(at) => format!("yes ({})", at.format("%Y-%m-%d %H:%M:%S UTC")),
            None => "no".to_string(),
        },
    ]
}

/// `get client-certificates`
pub async fn print(api: &ApiArgs, format: Format) -> anyhow::Result<()> {
    let certificates = api.client()?.client_certificates().await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&certificates)?),
        Format::Yaml => print!("{}", serde_yaml::to_string(&certificates)?),
        Format::Table | Format::Wide => {
            let mut table = Table::new(&["NAME", "SERIAL", "NOT AFTER", "REVOKED"]);
            for certificate in &certificates {
                table.row(row(certificate));
            }
            print!("{}", table.render());
        }
        other => anyhow::bail!(
            "-o {other:?} is not available for client certificates: use table, wide, yaml or json"
        ),
    }
    Ok(())
}

/// `delete client-certificate NAME...`
pub async fn delete(api: &ApiArgs, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        anyhow::bail!(
            "name the client certificate to revoke: `wasmpod delete client-certificate NAME`"
        );
    }
    let client = api.client()?;
    for name in names {
        let revoked = client.revoke_client_certificate(name).await?;
        println!(
            "client certificate \"{name}\" revoked (serial {})",
            revoked.serials.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::revocation::CertificateKind;

    #[test]
    fn a_row_says_whether_and_when_it_was_revoked() {
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).expect("time");
        let mut certificate = IssuedCertificate {
            name: "prometheus".into(),
            kind: CertificateKind::Client,
            serial: "41ab".into(),
            not_after: at(1_800_000_000),
            revoked: None,
        };
        assert_eq!(
            row(&certificate),
            ["prometheus", "41ab", "2027-01-15 08:00 UTC", "no"]
        );
        certificate.revoked = Some(at(1_790_000_000));
        assert_eq!(row(&certificate)[3], "yes (2026-09-21 14:13:20 UTC)");
        assert!(names_them("client-certificate") && names_them("clientcertificates"));
        assert!(!names_them("certificate"));
    }
}
