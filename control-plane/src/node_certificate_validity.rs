//! How long the cluster CA signs a node's certificate for (`wasmpod server
//! --node-certificate-validity`, also on `wasmpod up`): 365 days unless told, as kubeadm does,
//! from 10 seconds (so a test sees several rotations in a minute) to 10 years. Nodes renew at 70
//! to 90 % of that (see `wasmpod_worker::cert_rotation`).
//!
//! Written as humantime-style durations: a number and a unit, several in a row (`365d`, `12h`,
//! `1h30m`, `90s`, `2w`); units `s`, `m`, `h`, `d`, `w`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidityError {
    #[error("{text:?} is not a duration like 365d, 12h, 1h30m or 90s: {reason}")]
    Syntax { text: String, reason: String },
    #[error("{asked} is too short for a node certificate: at least {min}")]
    TooShort {
        asked: NodeCertificateValidity,
        min: NodeCertificateValidity,
    },
    #[error("{asked} is too long for a node certificate: at most {max}")]
    TooLong {
        asked: NodeCertificateValidity,
        max: NodeCertificateValidity,
    },
}

/// A node certificate's lifetime, within [`NodeCertificateValidity::MIN`] and
/// [`NodeCertificateValidity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeCertificateValidity(Duration);

impl NodeCertificateValidity {
    pub const MIN: NodeCertificateValidity = NodeCertificateValidity(Duration::from_secs(10));
    pub const MAX: NodeCertificateValidity =
        NodeCertificateValidity(Duration::from_secs(3650 * DAY));
    pub const DEFAULT: NodeCertificateValidity =
        NodeCertificateValidity(Duration::from_secs(365 * DAY));

    /// `duration` (whole seconds: a certificate's times are) if it is within the bounds.
    pub fn try_new(duration: Duration) -> Result<NodeCertificateValidity, ValidityError> {
        let asked = NodeCertificateValidity(Duration::from_secs(duration.as_secs()));
        if asked < NodeCertificateValidity::MIN {
            return Err(ValidityError::TooShort {
                asked,
                min: NodeCertificateValidity::MIN,
            });
        }
        if asked > NodeCertificateValidity::MAX {
            return Err(ValidityError::TooLong {
                asked,
                max: NodeCertificateValidity::MAX,
            });
        }
        Ok(asked)
    }

    pub fn duration(self) -> Duration {
        self.0
    }

    /// How far before its signing a certificate starts (clocks of nodes and servers drift): a
    /// tenth of the lifetime, at most five minutes (Kubernetes' CSR signer backdates five).
    pub fn backdate(self) -> Duration {
        (self.0 / 10).min(Duration::from_secs(5 * MINUTE))
    }
}

impl Default for NodeCertificateValidity {
    fn default() -> Self {
        NodeCertificateValidity::DEFAULT
    }
}

/// Parses `365d`, `1h30m`, `90s`: each part a number then a unit.
fn parse_duration(text: &str) -> Result<Duration, ValidityError> {
    let syntax = |reason: &str| ValidityError::Syntax {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(syntax("it is empty"));
    }
    let mut seconds: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(syntax("each part starts with a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| syntax("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "s" => 1,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "w" => WEEK,
            "" => return Err(syntax("a number needs a unit (s, m, h, d or w)")),
            _ => return Err(syntax("units are s, m, h, d and w")),
        };
        rest = &rest[unit_len..];
        seconds = number
            .checked_mul(unit)
            .and_then(|part| seconds.checked_add(part))
            .ok_or_else(|| syntax("the duration is too large"))?;
    }
    Ok(Duration::from_secs(seconds))
}

impl FromStr for NodeCertificateValidity {
    type Err = ValidityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NodeCertificateValidity::try_new(parse_duration(text)?)
    }
}

impl fmt::Display for NodeCertificateValidity {
    /// The largest units first: `365d`, `1h30m`, `45s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut left = self.0.as_secs();
        if left == 0 {
            return write!(f, "0s");
        }
        for (unit, name) in [(DAY, "d"), (HOUR, "h"), (MINUTE, "m"), (1, "s")] {
            if left >= unit {
                write!(f, "{}{name}", left / unit)?;
                left %= unit;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Duration, ValidityError> {
        text.parse::<NodeCertificateValidity>()
            .map(NodeCertificateValidity::duration)
    }

    #[test]
    fn validities_parse_as_humantime_durations() {
        assert_eq!(parsed("365d"), Ok(Duration::from_secs(365 * DAY)));
        assert_eq!(parsed("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parsed("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parsed("2w1d"), Ok(Duration::from_secs(15 * DAY)));
        assert_eq!(parsed(" 12h "), Ok(Duration::from_secs(12 * HOUR)));
        assert_eq!(NodeCertificateValidity::default().to_string(), "365d");
        assert_eq!(
            "1h30m"
                .parse::<NodeCertificateValidity>()
                .expect("valid")
                .to_string(),
            "1h30m"
        );
        for bad in [
            "",
            "30",
            "d",
            "30x",
            "1.5h",
            "-30s",
            "30 s",
            "99999999999999999999s",
        ] {
            assert!(
                matches!(parsed(bad), Err(ValidityError::Syntax { .. })),
                "{bad:?} parsed"
            );
        }
        assert!(matches!(
            parsed("999999999999999w"),
            Err(ValidityError::Syntax { .. })
        ));
    }

    #[test]
    fn validities_are_bounded() {
        assert!(matches!(parsed("9s"), Err(ValidityError::TooShort { .. })));
        assert!(matches!(parsed("0s"), Err(ValidityError::TooShort { .. })));
        assert_eq!(parsed("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parsed("3650d"), Ok(Duration::from_secs(3650 * DAY)));
        let long = parsed("3651d").expect_err("too long");
        assert_eq!(
            long.to_string(),
            "3651d is too long for a node certificate: at most 3650d"
        );
    }

    #[test]
    fn a_certificate_is_backdated_a_tenth_of_its_life_at_most_five_minutes() {
        let v = |text: &str| text.parse::<NodeCertificateValidity>().expect("valid");
        assert_eq!(v("30s").backdate(), Duration::from_secs(3));
        assert_eq!(v("365d").backdate(), Duration::from_secs(300));
    }
}
