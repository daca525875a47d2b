//! Kubernetes-style quantities: memory (`512Mi`, `2Gi`, `1000000`) and cpu (`500m`, `2`).

/// Parses a memory quantity into bytes.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let (num, mult) = units
        .iter()
        .find_map(|(suffix, mult)| t.strip_suffix(suffix).map(|n| (n, *mult)))
        .unwrap_or((t, 1));
    let value: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a memory quantity (examples: 128Mi, 2Gi)"))?;
    value
        .checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses a cpu quantity into millicores.
pub fn parse_cpu(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let err = || format!("{text:?} is not a cpu quantity (examples: 250m, 2)");
    if let Some(m) = t.strip_suffix('m') {
        return m.parse().map_err(|_| err());
    }
    let cores: f64 = t.parse().map_err(|_| err())?;
    if !cores.is_finite() || cores < 0.0 {
        return Err(err());
    }
    Ok((cores * 1000.0).round() as u64)
}

pub fn format_memory(bytes: u64) -> String {
    const GI: u64 = 1 << 30;
    const MI: u64 = 1 << 20;
    const KI: u64 = 1 << 10;
    match bytes {
        b if b >= GI && b % GI == 0 => format!("{}Gi", b / GI),
        b if b >= MI && b % MI == 0 => format!("{}Mi", b / MI),
        b if b >= MI => format!("{}Mi", b / MI),
        b if b >= KI && b % KI == 0 => format!("{}Ki", b / KI),
        b => b.to_string(),
    }
}

pub fn format_cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(parse_memory("2Gi").unwrap(), 2 << 30);
        assert_eq!(parse_memory("128Mi").unwrap(), 128 << 20);
        assert_eq!(parse_memory("1000").unwrap(), 1000);
        assert!(parse_memory("lots").is_err());
        assert_eq!(parse_cpu("500m").unwrap(), 500);
        assert_eq!(parse_cpu("2").unwrap(), 2000);
        assert_eq!(parse_cpu("0.5").unwrap(), 500);
        assert!(parse_cpu("x").is_err());
        assert_eq!(format_memory(2 << 30), "2Gi");
        assert_eq!(format_cpu(1500), "1500m");
    }
}
