use super::*;
use std::collections::HashMap;

/// Resolves `args` in an environment of exactly `vars`.
fn resolve(args: &OtlpArgs, vars: &[(&str, &str)]) -> Result<Option<ExportConfig>, ConfigError> {
    let vars: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    args.resolve(|name| vars.get(name).cloned())
}

fn endpoint(url: &str) -> OtlpArgs {
    OtlpArgs {
        otlp_endpoint: Some(url.into()),
        ..OtlpArgs::default()
    }
}

fn url_of(args: &OtlpArgs, vars: &[(&str, &str)]) -> String {
    resolve(args, vars)
        .expect("valid")
        .expect("an export")
        .traces_url
        .to_string()
}

fn error_of(args: &OtlpArgs, vars: &[(&str, &str)]) -> String {
    resolve(args, vars).expect_err("refused").to_string()
}

#[test]
fn nothing_is_exported_without_a_collector() {
    assert_eq!(resolve(&OtlpArgs::default(), &[]), Ok(None));
    // Variables for other programs of the environment are no reason to fail.
    let vars = [
        (HEADERS_VAR, "a=b"),
        (SERVICE_NAME_VAR, "x"),
        (ENDPOINT_VAR, ""),
    ];
    assert_eq!(resolve(&OtlpArgs::default(), &vars), Ok(None));
}

#[test]
fn the_flags_collector_url_gets_the_traces_path_unless_it_has_one() {
    for (given, sent) in [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://collector:4318", "https://collector:4318/v1/traces"),
        ("http://c:4318/custom/traces", "http://c:4318/custom/traces"),
        (
            "HTTPS://c/v1/traces?tenant=a",
            "https://c/v1/traces?tenant=a",
        ),
    ] {
        assert_eq!(url_of(&endpoint(given), &[]), sent, "{given}");
    }
}

#[test]
fn the_generic_variable_is_a_base_url_and_the_traces_one_is_used_as_it_is() {
    let none = OtlpArgs::default();
    for (given, sent) in [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        (
            "https://gw.example/otlp",
            "https://gw.example/otlp/v1/traces",
        ),
        (
            "https://gw.example/otlp/",
            "https://gw.example/otlp/v1/traces",
        ),
    ] {
        assert_eq!(url_of(&none, &[(ENDPOINT_VAR, given)]), sent, "{given}");
    }
    for (given, sent) in [
        ("http://collector:4318", "http://collector:4318/"),
        (
            "http://collector:4318/v1/traces",
            "http://collector:4318/v1/traces",
        ),
        ("https://gw.example/ingest", "https://gw.example/ingest"),
    ] {
        assert_eq!(
            url_of(&none, &[(TRACES_ENDPOINT_VAR, given)]),
            sent,
            "{given}"
        );
    }
}

#[test]
fn the_flag_wins_over_the_traces_variable_which_wins_over_the_generic_one() {
    let vars = [
        (ENDPOINT_VAR, "http://generic:4318"),
        (TRACES_ENDPOINT_VAR, "http://traces:4318/t"),
    ];
    assert_eq!(url_of(&OtlpArgs::default(), &vars), "http://traces:4318/t");
    assert_eq!(
        url_of(&endpoint("https://flag:4318"), &vars),
        "https://flag:4318/v1/traces"
    );
    // An empty variable counts as unset.
    let vars = [
        (ENDPOINT_VAR, "http://generic:4318"),
        (TRACES_ENDPOINT_VAR, " "),
    ];
    assert_eq!(
        url_of(&OtlpArgs::default(), &vars),
        "http://generic:4318/v1/traces"
    );
}

#[test]
fn a_url_that_cannot_be_a_collector_is_refused_naming_its_source() {
    for bad in ["collector:4318", "ftp://collector", "http://", "not a url"] {
        let error = error_of(&endpoint(bad), &[]);
        assert!(error.starts_with("--otlp-endpoint: "), "{bad}: {error}");
        let error = error_of(&OtlpArgs::default(), &[(ENDPOINT_VAR, bad)]);
        assert!(error.starts_with(ENDPOINT_VAR), "{bad}: {error}");
        let error = error_of(&OtlpArgs::default(), &[(TRACES_ENDPOINT_VAR, bad)]);
        assert!(error.starts_with(TRACES_ENDPOINT_VAR), "{bad}: {error}");
    }
}

#[test]
fn headers_merge_the_variables_then_the_flags_and_the_flags_win() {
    let args = OtlpArgs {
        otlp_endpoint: Some("https://c".into()),
        otlp_headers: vec!["X-Api-Key=from flag=ok".into(), "x-empty=".into()],
        otlp_ca_file: None,
    };
    let vars = [
        (
            HEADERS_VAR,
            " x-api-key = from env , x-tenant=team%20a,x-scope=generic, ",
        ),
        (TRACES_HEADERS_VAR, "x-scope=traces"),
    ];
    let config = resolve(&args, &vars).expect("valid").expect("an export");
    let header = |name: &str| config.headers.get(name).map(|v| v.to_str().expect("ascii"));
    assert_eq!(header("x-api-key"), Some("from flag=ok"));
    assert_eq!(header("x-tenant"), Some("team a"));
    assert_eq!(header("x-scope"), Some("traces"));
    assert_eq!(header("x-empty"), Some(""));
    assert_eq!(config.headers.len(), 4);
    assert!(config.headers.values().all(HeaderValue::is_sensitive));
}

#[test]
fn a_malformed_header_is_refused_naming_its_source_but_not_its_value() {
    let args = |header: &str| OtlpArgs {
        otlp_endpoint: Some("http://c".into()),
        otlp_headers: vec![header.into()],
        otlp_ca_file: None,
    };
    for bad in [
        "x-api-key:secret-1",
        "=secret-1",
        "bad name=secret-1",
        "x-api-key=secret-1\n",
        "content-type=secret-1",
    ] {
        let error = error_of(&args(bad), &[]);
        assert!(error.starts_with("--otlp-header: "), "{bad:?}: {error}");
        assert!(!error.contains("secret-1"), "{bad:?}: {error}");
    }
    let plain = endpoint("http://c");
    for bad in [
        "x-api-key",
        "a=b,x-api-key:secret-1",
        "a\u{7f}b=secret-1",
        "a=%FF%FE",
    ] {
        for var in [HEADERS_VAR, TRACES_HEADERS_VAR] {
            let error = error_of(&plain, &[(var, bad)]);
            assert!(error.starts_with(&format!("{var}: ")), "{bad:?}: {error}");
            assert!(!error.contains("secret-1"), "{bad:?}: {error}");
        }
    }
}

#[test]
fn a_https_collector_trusts_the_ca_file_of_the_flag_over_the_variables_else_the_system() {
    let https = endpoint("https://c");
    let config = |args: &OtlpArgs, vars: &[(&str, &str)]| {
        resolve(args, vars)
            .expect("valid")
            .expect("an export")
            .roots
    };
    assert_eq!(config(&https, &[]), Roots::System);
    let vars = [
        (CERTIFICATE_VAR, "/generic.pem"),
        (TRACES_CERTIFICATE_VAR, "/traces.pem"),
    ];
    assert_eq!(
        config(&https, &vars),
        Roots::CaFile {
            path: "/traces.pem".into(),
            setting: Setting::Env(TRACES_CERTIFICATE_VAR)
        }
    );
    assert_eq!(
        config(&https, &vars[..1]),
        Roots::CaFile {
            path: "/generic.pem".into(),
            setting: Setting::Env(CERTIFICATE_VAR)
        }
    );
    let flagged = OtlpArgs {
        otlp_ca_file: Some("/flag.pem".into()),
        ..https.clone()
    };
    assert_eq!(
        config(&flagged, &vars),
        Roots::CaFile {
            path: "/flag.pem".into(),
            setting: Setting::Flag("--otlp-ca-file")
        }
    );
    // A plain collector: the variable is ignored, the flag is a mistake.
    assert_eq!(config(&endpoint("http://c"), &vars), Roots::System);
    let plain = OtlpArgs {
        otlp_endpoint: Some("http://c".into()),
        ..flagged
    };
    assert!(error_of(&plain, &[]).starts_with("--otlp-ca-file is for an https:// collector"));
}

#[test]
fn export_flags_without_a_collector_are_refused() {
    let header = OtlpArgs {
        otlp_headers: vec!["a=b".into()],
        ..OtlpArgs::default()
    };
    assert!(error_of(&header, &[]).starts_with("--otlp-header is set but no collector is"));
    let ca = OtlpArgs {
        otlp_ca_file: Some("/ca.pem".into()),
        ..OtlpArgs::default()
    };
    assert!(error_of(&ca, &[]).starts_with("--otlp-ca-file is set but no collector is"));
}

#[test]
fn the_service_name_comes_from_its_variable() {
    let args = endpoint("http://c");
    let name = |vars: &[(&str, &str)]| {
        resolve(&args, vars)
            .expect("valid")
            .expect("an export")
            .service_name
    };
    assert_eq!(name(&[]), None);
    assert_eq!(name(&[(SERVICE_NAME_VAR, "")]), None);
    assert_eq!(name(&[(SERVICE_NAME_VAR, "edge")]), Some("edge".into()));
}

#[test]
fn a_protocol_other_than_http_protobuf_is_refused() {
    let args = endpoint("http://c:4318");
    for var in [PROTOCOL_VAR, TRACES_PROTOCOL_VAR] {
        assert!(resolve(&args, &[(var, "http/protobuf")]).is_ok());
        let error = error_of(&args, &[(var, "grpc")]);
        assert!(
            error.starts_with(&format!(
                "{var}: \"grpc\": wasmpod exports over http/protobuf"
            )),
            "{error}"
        );
    }
    // The traces variable wins over the generic one.
    let vars = [
        (PROTOCOL_VAR, "grpc"),
        (TRACES_PROTOCOL_VAR, "http/protobuf"),
    ];
    assert!(resolve(&args, &vars).is_ok());
    // Without a collector, the variable is another program's business.
    assert_eq!(
        resolve(&OtlpArgs::default(), &[(PROTOCOL_VAR, "grpc")]),
        Ok(None)
    );
}
