//! Printing what `get` found in the format asked for, with kubectl's table options
//! (`-A` adds NAMESPACE, `--show-labels` adds LABELS, `--no-headers`, `--sort-by`).

use super::jsonpath::{self, Path};
use super::{secrets, tables, Format, Table};
use serde_json::Value;
use std::cmp::Ordering;
use wasmpod_api::labels::{format_labels, labels_of};
use wasmpod_api::{AnyObject, Kind};

#[derive(Debug, Clone, Default)]
pub struct PrintOptions {
    pub format: Format,
    pub no_headers: bool,
    pub show_labels: bool,
    pub all_namespaces: bool,
    pub sort_by: Option<Path>,
    pub show_secrets: bool,
    /// The nodes' certificates, for `get nodes -o wide` (empty otherwise, or without TLS).
    pub node_certificates: Vec<wasmpod_api::revocation::IssuedCertificate>,
}

/// The objects found, by kind; `single`: one object was asked for by name (yaml/json print it
/// alone, not in a list).
pub struct Found {
    pub groups: Vec<(Kind, Vec<AnyObject>)>,
    pub single: bool,
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => jsonpath::text(x).cmp(&jsonpath::text(y)),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Renders `found`; `all_pods` feeds the node table's allocation columns.
pub fn render(
    mut found: Found,
    options: &PrintOptions,
    all_pods: &[AnyObject],
) -> anyhow::Result<String> {
    for (kind, items) in &mut found.groups {
        if let Some(path) = &options.sort_by {
            items.sort_by(|a, b| {
                compare(
                    path.eval(&a.0).first().copied(),
                    path.eval(&b.0).first().copied(),
                )
            });
        } else if *kind == Kind::Event {
            tables::sort_events(items);
        }
        // Tables show sizes, computed from the data itself; every other format hides the values.
        let table = matches!(options.format, Format::Table | Format::Wide);
        if *kind == Kind::Secret && !options.show_secrets && !table {
            items.iter_mut().for_each(secrets::hide_values);
        }
    }
    let all: Vec<&AnyObject> = found.groups.iter().flat_map(|(_, items)| items).collect();
    let list = || {
        serde_json::json!({"apiVersion": wasmpod_api::API_VERSION, "kind": "List",
            "items": all.iter().map(|o| o.0.clone()).collect::<Vec<_>>()})
    };
    let document = || match (found.single, all.first()) {
        (true, Some(object)) => object.0.clone(),
        _ => list(),
    };
    Ok(match &options.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&document())?),
        Format::Yaml => serde_yaml::to_string(&document())?,
        Format::JsonPath(template) => template.render(&document()),
        Format::Name => all
            .iter()
            .map(|o| {
                let kind = o
                    .kind()
                    .map_or("object".into(), |k| k.as_str().to_lowercase());
                format!("{kind}/{}\n", o.name())
            })
            .collect(),
        Format::CustomColumns(columns) => {
            let headers: Vec<&str> = columns.iter().map(|(h, _)| h.as_str()).collect();
            let mut table = Table::new(&headers);
            for object in &all {
                table.row(
                    columns
                        .iter()
                        .map(|(_, path)| {
                            let values: Vec<String> = path
                                .eval(&object.0)
                                .into_iter()
                                .map(jsonpath::text)
                                .collect();
                            if values.is_empty() {
                                "<none>".to_string()
                            } else {
                                values.join(",")
                            }
                        })
                        .collect(),
                );
            }
            finish(&table, options)
        }
        Format::Table | Format::Wide => {
            let several = found.groups.len() > 1;
            let mut out = String::new();
            for (kind, items) in &found.groups {
                if items.is_empty() {
                    continue;
                }
                let mut table =
                    tables::for_kind(*kind, items, options.format == Format::Wide, all_pods)?;
                if *kind == Kind::Node && options.format == Format::Wide {
                    let names: Vec<&str> = items.iter().map(|o| o.name()).collect();
                    let (serials, expires) = super::node_certificates::cells(
                        &names,
                        &options.node_certificates,
                        chrono::Utc::now(),
                    );
                    table.append_column("CERTIFICATE SERIAL", serials);
                    table.append_column("CERTIFICATE EXPIRES", expires);
                }
                if several {
                    table.map_first_column(|name| {
                        format!("{}/{name}", kind.as_str().to_lowercase())
                    });
                }
                if options.show_labels {
                    table.append_column(
                        "LABELS",
                        items
                            .iter()
                            .map(|o| {
                                let labels = format_labels(&labels_of(&o.0));
                                if labels.is_empty() {
                                    "<none>".into()
                                } else {
                                    labels
                                }
                            })
                            .collect(),
                    );
                }
                if options.all_namespaces && kind.namespaced() {
                    table.prepend_column(
                        "NAMESPACE",
                        items.iter().map(|o| o.namespace().to_string()).collect(),
                    );
                }
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&finish(&table, options));
            }
            out
        }
    })
}

fn finish(table: &Table, options: &PrintOptions) -> String {
    if options.no_headers {
        table.render_rows()
    } else {
        table.render()
    }
}
