//! The JSONPath templates of `-o jsonpath=...`, `-o custom-columns=...` and `--sort-by`, the
//! subset kubectl users type: `{.metadata.name}`, `{.items[*].spec.nodeName}`, `{.items[0]}`,
//! `{range .items[*]}{.metadata.name}{"\n"}{end}`, text around the braces.

use anyhow::{bail, Context};
use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
    All,
}

/// `.items[*].metadata.name`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    steps: Vec<Step>,
}

impl Path {
    pub fn parse(text: &str) -> anyhow::Result<Path> {
        let text = text.trim();
        let body = text.strip_prefix('@').unwrap_or(text);
        let mut steps = Vec::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '.' => {
                    let mut name = String::new();
                    while let Some((_, c)) = chars.peek() {
                        if *c == '.' || *c == '[' {
                            break;
                        }
                        name.push(*c);
                        chars.next();
                    }
                    if name == "*" {
                        steps.push(Step::All);
                    } else if !name.is_empty() {
                        steps.push(Step::Field(name));
                    }
                }
                '[' => {
                    let mut inner = String::new();
                    for (_, c) in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                        inner.push(c);
                    }
                    let inner = inner.trim();
                    if inner == "*" {
                        steps.push(Step::All);
                    } else if let Some(key) = inner
                        .strip_prefix('\'')
                        .and_then(|s| s.strip_suffix('\''))
                    {
                        steps.push(Step::Field(key.to_string()));
                    } else {
                        let index = inner.parse().with_context(|| {
                            format!("jsonpath {text:?}: [{inner}] is not an index, '*' or 'key'")
                        })?;
                        steps.push(Step::Index(index));
                    }
                }
                _ => bail!(
                    "jsonpath {text:?}: unexpected {c:?} at {i} (a path is like .metadata.name or .items[*].spec)"
                ),
            }
        }
        Ok(Path { steps })
    }

    /// Every value the path reaches in `root` (several through `[*]`).
    pub fn eval<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for step in &self.steps {
            current = current
                .into_iter()
                .flat_map(|v| -> Vec<&'a Value> {
                    match (step, v) {
                        (Step::Field(name), Value::Object(map)) => {
                            map.get(name).into_iter().collect()
                        }
                        (Step::Index(i), Value::Array(items)) => {
                            items.get(*i).into_iter().collect()
                        }
                        (Step::All, Value::Array(items)) => items.iter().collect(),
                        (Step::All, Value::Object(map)) => map.values().collect(),
                        _ => Vec::new(),
                    }
                })
                .collect();
        }
        current
    }
}

/// A value as kubectl prints it: strings bare, everything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Path(Path),
    Range(Path, Vec<Part>),
}

/// A parsed `-o jsonpath=` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> anyhow::Result<Template> {
        let mut stack: Vec<(Option<Path>, Vec<Part>)> = vec![(None, Vec::new())];
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                push(&mut stack, Part::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                push(&mut stack, Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .with_context(|| format!("jsonpath {text:?}: a '{{' without its '}}'"))?
                + open;
            let inner = rest[open + 1..close].trim();
            rest = &rest[close + 1..];
            if let Some(path) = inner.strip_prefix("range ") {
                stack.push((Some(Path::parse(path)?), Vec::new()));
            } else if inner == "end" {
                let (Some(path), parts) = stack.pop().unwrap_or_default() else {
                    bail!("jsonpath {text:?}: {{end}} without {{range}}");
                };
                push(&mut stack, Part::Range(path, parts));
            } else if let Some(literal) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
            {
                let literal = literal.replace("\\n", "\n").replace("\\t", "\t");
                push(&mut stack, Part::Text(literal));
            } else {
                push(&mut stack, Part::Path(Path::parse(inner)?));
            }
        }
        if stack.len() != 1 {
            bail!("jsonpath {text:?}: {{range}} without {{end}}");
        }
        let (_, parts) = stack.pop().unwrap_or_default();
        Ok(Template { parts })
    }

    pub fn render(&self, root: &Value) -> String {
        let mut out = String::new();
        render(&self.parts, root, &mut out);
        out
    }
}

fn push(stack: &mut [(Option<Path>, Vec<Part>)], part: Part) {
    if let Some((_, parts)) = stack.last_mut() {
        parts.push(part);
    }
}

fn render(parts: &[Part], root: &Value, out: &mut String) {
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Path(p) => {
                let values: Vec<String> = p.eval(root).into_iter().map(text).collect();
                out.push_str(&values.join(" "));
            }
            Part::Range(p, inner) => {
                for value in p.eval(root) {
                    render(inner, value, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_as_kubectl_users_write_them() {
        let list = json!({"items": [
            {"metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}}, "spec": {"nodeName": "n1"}},
            {"metadata": {"name": "b"}, "spec": {"nodeName": "n2"}}]});
        let t = |s: &str| Template::parse(s).unwrap().render(&list);
        assert_eq!(t("{.items[*].metadata.name}"), "a b");
        assert_eq!(t("{.items[1].spec.nodeName}"), "n2");
        assert_eq!(
            t(r#"{range .items[*]}{.metadata.name}={.spec.nodeName}{"\n"}{end}"#),
            "a=n1\nb=n2\n"
        );
        assert_eq!(
            t("{.items[0].metadata.labels['app.kubernetes.io/name']}"),
            "x"
        );
        assert_eq!(t("names: {.items[*].metadata.name}"), "names: a b");
        assert!(Template::parse("{.items[*].metadata.name").is_err());
        assert!(Template::parse("{range .items[*]}{.x}").is_err());
        assert!(Template::parse("{.items[x]}").is_err());
    }
}
