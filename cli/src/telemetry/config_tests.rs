use super::*;
use http::HeaderValue;
use std::collections::HashMap;

/// Resolves `args` in an environment of exactly `vars`.
fn exporting(args: &OtlpArgs, vars: &[(&str, &str)]) -> Result<Exporting, ConfigError> {
    let vars: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    args.resolve(|name| vars.get(name).cloned())
}

/// The export `args` make in an environment of exactly `vars` (none when there is no collector).
fn resolve(args: &OtlpArgs, vars: &[(&str, &str)]) -> Result<Option<ExportConfig>, ConfigError> {
    exporting(args, vars).map(|exporting| match exporting {
        Exporting::Off => None,
        Exporting::To(config) => Some(*config),
        Exporting::Disabled { collector } => panic!("disabled ({collector})"),
    })
}

fn export_of(args: &OtlpArgs, vars: &[(&str, &str)]) -> ExportConfig {
    resolve(args, vars).expect("valid").expect("an export")
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
        ..OtlpArgs::default()
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
        ..OtlpArgs::default()
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

#[test]
fn sdk_disabled_turns_a_configured_export_off_before_anything_else_is_read() {
    let flag = endpoint("http://c:4318");
    for on in ["true", "TRUE", " True "] {
        assert_eq!(
            exporting(&flag, &[(SDK_DISABLED_VAR, on)]),
            Ok(Exporting::Disabled {
                collector: Setting::Flag("--otlp-endpoint")
            }),
            "{on:?}"
        );
    }
    assert_eq!(
        exporting(
            &OtlpArgs::default(),
            &[(ENDPOINT_VAR, "http://c"), (SDK_DISABLED_VAR, "true")]
        ),
        Ok(Exporting::Disabled {
            collector: Setting::Env(ENDPOINT_VAR)
        })
    );
    // Off wins over settings it makes moot, even wrong ones.
    assert!(matches!(
        exporting(&flag, &[(SDK_DISABLED_VAR, "true"), (TIMEOUT_VAR, "soon")]),
        Ok(Exporting::Disabled { .. })
    ));
    for off in ["false", "FALSE", ""] {
        assert!(
            matches!(
                exporting(&flag, &[(SDK_DISABLED_VAR, off)]),
                Ok(Exporting::To(_))
            ),
            "{off:?}"
        );
    }
    // Without a collector there is nothing to turn off.
    assert_eq!(
        exporting(&OtlpArgs::default(), &[(SDK_DISABLED_VAR, "true")]),
        Ok(Exporting::Off)
    );
    for bad in ["yes", "1", "on"] {
        assert_eq!(
            error_of(&flag, &[(SDK_DISABLED_VAR, bad)]),
            format!("OTEL_SDK_DISABLED: {bad:?} is neither true nor false")
        );
    }
}

#[test]
fn the_export_timeout_is_milliseconds_the_traces_variable_winning_10_s_by_default() {
    let args = endpoint("http://c");
    let timeout = |vars: &[(&str, &str)]| export_of(&args, vars).timeout;
    assert_eq!(timeout(&[]), Duration::from_secs(10));
    assert_eq!(
        timeout(&[(TIMEOUT_VAR, "2500")]),
        Duration::from_millis(2500)
    );
    assert_eq!(
        timeout(&[(TIMEOUT_VAR, "2500"), (TRACES_TIMEOUT_VAR, "300")]),
        Duration::from_millis(300)
    );
    assert_eq!(
        timeout(&[(TRACES_TIMEOUT_VAR, " ")]),
        Duration::from_secs(10)
    );
    for var in [TIMEOUT_VAR, TRACES_TIMEOUT_VAR] {
        for bad in ["10s", "0", "-1", "1.5"] {
            let error = error_of(&args, &[(var, bad)]);
            assert!(error.starts_with(&format!("{var}: ")), "{bad:?}: {error}");
        }
    }
}

#[test]
fn the_timeout_flag_wins_over_the_variables_and_needs_a_collector() {
    let flagged = |timeout: Duration| OtlpArgs {
        otlp_timeout: Some(timeout),
        ..endpoint("http://c")
    };
    let vars = [(TIMEOUT_VAR, "2500"), (TRACES_TIMEOUT_VAR, "300")];
    assert_eq!(
        export_of(&flagged(Duration::from_millis(750)), &vars).timeout,
        Duration::from_millis(750)
    );
    let zero = error_of(&flagged(Duration::ZERO), &[]);
    assert!(zero.starts_with("--otlp-timeout: 0 ms"), "{zero}");
    let alone = OtlpArgs {
        otlp_timeout: Some(Duration::from_secs(5)),
        ..OtlpArgs::default()
    };
    assert!(error_of(&alone, &[]).starts_with("--otlp-timeout is set but no collector is"));
}

#[test]
fn resource_attributes_merge_under_the_service_name_variable_and_the_instance() {
    let args = endpoint("http://c");
    let attributes = "team=edge%2Cnodes, service.name=from-attributes, \
                      service.instance.id=shared, wasmpod.node=shared, deployment.environment=prod";
    let resource =
        |vars: &[(&str, &str)]| export_of(&args, vars).resource("wasmpod-node", "node-1");
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        resource(&[]),
        pairs(&[
            ("service.name", "wasmpod-node"),
            ("service.instance.id", "node-1"),
            ("wasmpod.node", "node-1"),
        ])
    );
    assert_eq!(
        resource(&[(RESOURCE_ATTRIBUTES_VAR, attributes)]),
        pairs(&[
            ("service.name", "from-attributes"),
            ("team", "edge,nodes"),
            ("deployment.environment", "prod"),
            ("service.instance.id", "node-1"),
            ("wasmpod.node", "node-1"),
        ])
    );
    assert_eq!(
        resource(&[
            (RESOURCE_ATTRIBUTES_VAR, attributes),
            (SERVICE_NAME_VAR, "edge-nodes")
        ])[0],
        ("service.name".to_string(), "edge-nodes".to_string())
    );
    for bad in ["team=a,secret-1", "=secret-1", "k=secret-1%FF"] {
        let error = error_of(&args, &[(RESOURCE_ATTRIBUTES_VAR, bad)]);
        assert!(
            error.starts_with("OTEL_RESOURCE_ATTRIBUTES: "),
            "{bad:?}: {error}"
        );
        assert!(!error.contains("secret-1"), "{bad:?}: {error}");
    }
}

#[test]
fn a_client_identity_comes_from_the_flags_over_the_traces_variables_over_the_generic_ones() {
    let https = endpoint("https://c");
    let identity = |args: &OtlpArgs, vars: &[(&str, &str)]| export_of(args, vars).client_identity;
    let file = |path: &str, setting: Setting| NamedFile {
        path: path.into(),
        setting,
    };
    assert_eq!(identity(&https, &[]), None);
    let vars = [
        (CLIENT_CERTIFICATE_VAR, "/generic.crt"),
        (CLIENT_KEY_VAR, "/generic.key"),
        (TRACES_CLIENT_CERTIFICATE_VAR, "/traces.crt"),
        (TRACES_CLIENT_KEY_VAR, "/traces.key"),
    ];
    assert_eq!(
        identity(&https, &vars[..2]),
        Some(ClientIdentity {
            certificate: file("/generic.crt", Setting::Env(CLIENT_CERTIFICATE_VAR)),
            key: file("/generic.key", Setting::Env(CLIENT_KEY_VAR)),
        })
    );
    assert_eq!(
        identity(&https, &vars),
        Some(ClientIdentity {
            certificate: file("/traces.crt", Setting::Env(TRACES_CLIENT_CERTIFICATE_VAR)),
            key: file("/traces.key", Setting::Env(TRACES_CLIENT_KEY_VAR)),
        })
    );
    let flagged = OtlpArgs {
        otlp_client_certificate: Some("/flag.crt".into()),
        otlp_client_key: Some("/flag.key".into()),
        ..https.clone()
    };
    assert_eq!(
        identity(&flagged, &vars),
        Some(ClientIdentity {
            certificate: file("/flag.crt", Setting::Flag("--otlp-client-certificate")),
            key: file("/flag.key", Setting::Flag("--otlp-client-key")),
        })
    );
    // Half an identity is refused, naming the half given.
    let half = OtlpArgs {
        otlp_client_key: None,
        ..flagged.clone()
    };
    assert!(
        error_of(&half, &[]).starts_with("--otlp-client-certificate is set but its pair is not")
    );
    assert!(error_of(&https, &[(TRACES_CLIENT_KEY_VAR, "/k")])
        .starts_with("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY is set but its pair is not"));
    // A plain collector: the variables are ignored, the flags are a mistake.
    assert_eq!(identity(&endpoint("http://c"), &vars), None);
    let plain = OtlpArgs {
        otlp_endpoint: Some("http://c".into()),
        ..flagged.clone()
    };
    assert!(
        error_of(&plain, &[]).starts_with("--otlp-client-certificate is for an https:// collector")
    );
    // Without a collector, the flags are refused.
    let alone = OtlpArgs {
        otlp_endpoint: None,
        ..flagged
    };
    assert!(
        error_of(&alone, &[]).starts_with("--otlp-client-certificate is set but no collector is")
    );
}
