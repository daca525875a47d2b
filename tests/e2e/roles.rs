//! API tokens with roles (issue 14, "People: tokens with roles"), through the real CLI against a
//! `wasmpod server` with an admin token: `create token NAME --role admin|edit|view [--namespace
//! NS]` prints the secret once, `get tokens` never shows it, `delete token NAME` revokes it, and
//! each role may do what its README row says and no more; a refusal names the token, its role and
//! the verb.

use std::process::Output;
use wasmpod_tests::MultiNode;

/// `wasmpod --token TOKEN args...` (the admin's client config names the server).
fn as_token(cluster: &MultiNode, token: &str, args: &[&str]) -> Output {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    cluster.cli(&all)
}

fn ok(cluster: &MultiNode, token: &str, args: &[&str]) -> String {
    let out = as_token(cluster, token, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `args` with `token`, which must be refused with a message containing `want`.
fn refused(cluster: &MultiNode, token: &str, args: &[&str], want: &str) {
    let out = as_token(cluster, token, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} was allowed");
    assert!(
        stderr.contains(want),
        "{args:?}: want {want:?} in: {stderr}"
    );
}

/// The VALUE of `auth whoami`'s row named `name`.
fn attribute<'a>(table: &'a str, name: &str) -> Option<&'a str> {
    table
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .map(str::trim)
}

/// `create configmap NAME --from-literal a=b -n NAMESPACE`.
fn create_configmap<'a>(name: &'a str, namespace: &'a str) -> [&'a str; 7] {
    [
        "create",
        "configmap",
        name,
        "--from-literal",
        "a=b",
        "-n",
        namespace,
    ]
}

/// `create secret generic NAME --from-literal LITERAL -n NAMESPACE`.
fn create_secret<'a>(name: &'a str, literal: &'a str, namespace: &'a str) -> [&'a str; 8] {
    [
        "create",
        "secret",
        "generic",
        name,
        "--from-literal",
        literal,
        "-n",
        namespace,
    ]
}

/// A cluster with namespace dev holding Secret s and ConfigMap c, and a token created by the
/// admin with `create token` (its secret is the one line on stdout).
fn cluster_with_token(create: &[&str]) -> (MultiNode, String) {
    let cluster = MultiNode::start();
    cluster.cli_ok(&["create", "namespace", "dev"]);
    cluster.cli_ok(&create_secret("s", "k=hush", "dev"));
    cluster.cli_ok(&create_configmap("c", "dev"));
    let mut args = vec!["create", "token"];
    args.extend_from_slice(create);
    let token = cluster.cli_ok(&args).trim().to_string();
    assert!(
        token.starts_with("wpt_") && !token.contains('\n'),
        "{token:?}"
    );
    let listed = cluster.cli_ok(&["get", "tokens", "-o", "json"]);
    assert!(listed.contains(create[0]), "{listed}");
    assert!(
        !listed.contains(&token),
        "get tokens shows no secret: {listed}"
    );
    (cluster, token)
}

#[test]
fn a_view_token_reads_everything_but_secrets_and_writes_nothing() {
    let (cluster, view) = cluster_with_token(&["viewer", "--role", "view"]);
    assert!(ok(&cluster, &view, &["get", "configmaps", "-n", "dev"]).contains('c'));
    ok(&cluster, &view, &["get", "namespaces"]);
    ok(&cluster, &view, &["get", "pods", "-A"]);
    refused(
        &cluster,
        &view,
        &["get", "secrets", "-n", "dev"],
        r#"token "viewer" (role view) may not list secrets"#,
    );
    refused(
        &cluster,
        &view,
        &[
            "get",
            "secret",
            "s",
            "-n",
            "dev",
            "-o",
            "yaml",
            "--show-secrets",
        ],
        "the view role reads no Secret",
    );
    refused(
        &cluster,
        &view,
        &["delete", "configmap", "c", "-n", "dev"],
        r#"token "viewer" (role view) may not delete configmaps dev/c"#,
    );
    refused(
        &cluster,
        &view,
        &create_configmap("d", "dev"),
        "may not apply",
    );
    refused(&cluster, &view, &["get", "tokens"], "may not list tokens");
}

#[test]
fn an_edit_token_writes_workloads_config_and_secrets_in_its_namespace_only() {
    let (cluster, edit) = cluster_with_token(&["ci", "--role", "edit", "--namespace", "dev"]);
    let who = ok(&cluster, &edit, &["auth", "whoami"]);
    assert_eq!(
        attribute(&who, "Identity"),
        Some(r#"token "ci" (role edit, namespace dev)"#),
        "{who}"
    );
    assert_eq!(attribute(&who, "Role"), Some("edit"), "{who}");
    assert_eq!(attribute(&who, "Namespaces"), Some("dev"), "{who}");
    let who: serde_json::Value =
        serde_json::from_str(&ok(&cluster, &edit, &["auth", "whoami", "-o", "json"]))
            .expect("whoami -o json");
    assert_eq!(who["namespaces"], serde_json::json!(["dev"]), "{who}");
    ok(&cluster, &edit, &create_configmap("d", "dev"));
    ok(&cluster, &edit, &create_secret("t", "k=v", "dev"));
    assert!(ok(&cluster, &edit, &["get", "secrets", "-n", "dev"]).contains('t'));
    ok(&cluster, &edit, &["delete", "configmap", "c", "-n", "dev"]);
    refused(
        &cluster,
        &edit,
        &create_configmap("d", "default"),
        r#"token "ci" (role edit, namespace dev) may not apply configmaps default/d"#,
    );
    refused(
        &cluster,
        &edit,
        &["get", "pods", "-A"],
        "outside the token's namespace",
    );
    refused(
        &cluster,
        &edit,
        &["get", "nodes"],
        r#"token "ci" (role edit, namespace dev) may not list nodes"#,
    );
    refused(
        &cluster,
        &edit,
        &["delete", "namespace", "dev"],
        r#"token "ci" (role edit, namespace dev) may not delete namespaces dev"#,
    );
    refused(
        &cluster,
        &edit,
        &["create", "namespace", "x"],
        "may not apply namespaces x",
    );
    refused(
        &cluster,
        &edit,
        &["create", "token", "mine", "--role", "admin"],
        "may not create tokens",
    );
    // The admin still sees what the token did, and ConfigMap c is gone.
    let names = cluster.cli_ok(&["get", "configmaps", "-n", "dev", "-o", "name"]);
    assert!(
        names.contains("d") && !names.contains("configmap/c\n"),
        "{names}"
    );
}

#[test]
fn an_admin_token_does_everything_and_deleted_tokens_stop_working() {
    let (cluster, admin) = cluster_with_token(&["root", "--role", "admin"]);
    let view = ok(
        &cluster,
        &admin,
        &["create", "token", "viewer", "--role", "view"],
    )
    .trim()
    .to_string();
    ok(&cluster, &admin, &["get", "nodes"]);
    let who = ok(&cluster, &admin, &["auth", "whoami"]);
    assert_eq!(
        attribute(&who, "Identity"),
        Some(r#"token "root" (role admin)"#),
        "{who}"
    );
    assert_eq!(attribute(&who, "Namespaces"), Some("(all)"), "{who}");
    assert!(ok(&cluster, &admin, &["get", "secrets", "-n", "dev"]).contains('s'));
    ok(&cluster, &admin, &["create", "namespace", "x"]);
    let listed = ok(&cluster, &admin, &["get", "tokens"]);
    assert!(
        listed.contains("viewer") && listed.contains("root"),
        "{listed}"
    );
    ok(&cluster, &view, &["get", "configmaps", "-n", "dev"]);
    ok(&cluster, &admin, &["delete", "token", "viewer"]);
    let out = as_token(&cluster, &view, &["get", "configmaps", "-n", "dev"]);
    assert!(!out.status.success(), "a deleted token is refused");
    refused(
        &cluster,
        &admin,
        &[
            "create",
            "token",
            "scoped",
            "--role",
            "admin",
            "--namespace",
            "dev",
        ],
        "an admin token is not namespaced",
    );
}
