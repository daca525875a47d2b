//! `-o table|wide|yaml|json|name|jsonpath=TEMPLATE|custom-columns=SPEC`.

use super::jsonpath::{Path, Template};
use anyhow::{bail, Context};
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Wide,
    Yaml,
    Json,
    /// `deployment/hello`, one a line.
    Name,
    JsonPath(Template),
    /// `NAME:.metadata.name,NODE:.spec.nodeName`.
    CustomColumns(Vec<(String, Path)>),
}

impl FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Format> {
        if let Some(template) = text.strip_prefix("jsonpath=") {
            let template = template
                .strip_prefix('\'')
                .and_then(|t| t.strip_suffix('\''))
                .unwrap_or(template);
            return Ok(Format::JsonPath(Template::parse(template)?));
        }
        if let Some(spec) = text.strip_prefix("custom-columns=") {
            let mut columns = Vec::new();
            for column in spec.split(',') {
                let (header, path) = column.split_once(':').with_context(|| {
                    format!("custom-columns: {column:?} is not HEADER:.json.path")
                })?;
                columns.push((header.to_string(), Path::parse(path)?));
            }
            return Ok(Format::CustomColumns(columns));
        }
        Ok(match text {
            "table" => Format::Table,
            "wide" => Format::Wide,
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "name" => Format::Name,
            other => bail!(
                "unknown output format {other:?}: use table, wide, yaml, json, name, jsonpath=TEMPLATE or custom-columns=HEADER:.path,..."
            ),
        })
    }
}

/// clap's value parser for `-o`.
pub fn parse(text: &str) -> Result<Format, String> {
    text.parse().map_err(|e: anyhow::Error| e.to_string())
}
