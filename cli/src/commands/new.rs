//! `wasmpod new NAME --lang rust|js|python`: writes a ready project (source, build, deploy.yaml)
//! from templates embedded in the binary. The JavaScript and Python build scripts are the samples'
//! own, so what the end-to-end tests build is what a new project builds.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// cargo, `wasm32-wasip2`, the `wasi` crate
    Rust,
    /// componentize-js (npm)
    #[value(alias = "javascript")]
    Js,
    /// componentize-py (PyPI)
    #[value(alias = "py")]
    Python,
}

impl Lang {
    pub fn label(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript",
            Lang::Python => "Python",
        }
    }

    /// The project's files: (path, template text).
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => &[
                (
                    "Cargo.toml",
                    include_str!("../../templates/rust/Cargo.toml"),
                ),
                (
                    "src/lib.rs",
                    include_str!("../../templates/rust/src/lib.rs"),
                ),
                (
                    "deploy.yaml",
                    include_str!("../../templates/rust/deploy.yaml"),
                ),
                (".gitignore", include_str!("../../templates/gitignore")),
            ],
            Lang::Js => &[
                (
                    "package.json",
                    include_str!("../../templates/js/package.json"),
                ),
                ("src/app.js", include_str!("../../templates/js/src/app.js")),
                (
                    "wit/world.wit",
                    include_str!("../../templates/js/wit/world.wit"),
                ),
                (
                    "build.mjs",
                    include_str!("../../../sample-services/hello-js/build.mjs"),
                ),
                (
                    "deploy.yaml",
                    include_str!("../../templates/js/deploy.yaml"),
                ),
                (".gitignore", include_str!("../../templates/gitignore")),
            ],
            Lang::Python => &[
                (
                    "pyproject.toml",
                    include_str!("../../templates/python/pyproject.toml"),
                ),
                ("app.py", include_str!("../../templates/python/app.py")),
                (
                    "build.py",
                    include_str!("../../../sample-services/hello-py/build.py"),
                ),
                (
                    "deploy.yaml",
                    include_str!("../../templates/python/deploy.yaml"),
                ),
                (".gitignore", include_str!("../../templates/gitignore")),
            ],
        }
    }
}

#[derive(Debug, Args)]
pub struct New {
    /// Project name: the directory, the package and the Deployment/Service/Ingress name
    /// (lowercase letters, digits and `-`)
    pub name: String,
    /// Language of the project
    #[arg(short, long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// Parent directory to create the project in
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

impl New {
    pub async fn run(self) -> anyhow::Result<()> {
        let target = self.dir.join(&self.name);
        let written = create(&self.name, self.lang, &target)?;
        println!(
            "created {} ({} service, {written} files)",
            target.display(),
            self.lang.label()
        );
        println!("next:");
        println!("  cd {}", target.display());
        println!(
            "  wasmpod build                  # {}",
            build_hint(self.lang)
        );
        println!("  wasmpod apply -f deploy.yaml");
        println!("  curl http://127.0.0.1:8080/{}", self.name);
        Ok(())
    }
}

fn build_hint(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "cargo build --release --target wasm32-wasip2",
        Lang::Js => "node build.mjs (installs componentize-js with npm)",
        Lang::Python => "python3 build.py (installs componentize-py with pip)",
    }
}

/// Fills a template: `{{name}}` and `{{crate}}` (the name with `_` for `-`).
fn render(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
}

/// Writes the project into `target` (which must not exist yet); returns how many files.
pub fn create(name: &str, lang: Lang, target: &Path) -> anyhow::Result<usize> {
    wasmpod_api::Name::try_from(name)
        .map_err(|e| anyhow::anyhow!("invalid project name {name:?}: {e}"))?;
    if target.exists() {
        bail!(
            "{} already exists: pick another name or --dir",
            target.display()
        );
    }
    let files = lang.files();
    for (path, template) in files {
        let file = target.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, render(template, name))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, path: &str) -> String {
        std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn every_language_writes_source_build_and_manifest_with_the_name_filled_in() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for (lang, build, component) in [
            (
                Lang::Rust,
                "Cargo.toml",
                "./target/wasm32-wasip2/release/my_svc.wasm",
            ),
            (Lang::Js, "build.mjs", "./my-svc.wasm"),
            (Lang::Python, "build.py", "./my-svc.wasm"),
        ] {
            let dir = tmp.path().join(format!("{lang:?}"));
            create("my-svc", lang, &dir).expect("project written");
            assert!(dir.join(build).exists(), "{lang:?}: {build}");
            let deploy = read(&dir, "deploy.yaml");
            assert!(
                deploy.contains(&format!("component: {component}")),
                "{lang:?}: {deploy}"
            );
            assert!(
                deploy.contains("{name: my-svc, labels: {app: my-svc}}"),
                "{deploy}"
            );
            for (path, _) in lang.files() {
                assert!(
                    !read(&dir, path).contains("{{name}}"),
                    "{lang:?}: {path} still has a placeholder"
                );
            }
        }
        let tmp_rust = tmp.path().join("Rust");
        assert!(read(&tmp_rust, "Cargo.toml").contains("name = \"my-svc\""));
        assert!(read(&tmp.path().join("Js"), "package.json").contains("\"name\": \"my-svc\""));
        assert!(read(&tmp.path().join("Python"), "pyproject.toml").contains("name = \"my-svc\""));
    }

    #[test]
    fn new_refuses_bad_names_and_existing_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = create("My_Svc", Lang::Js, &tmp.path().join("x")).expect_err("bad name");
        assert!(err.to_string().contains("invalid project name"), "{err}");
        std::fs::create_dir(tmp.path().join("taken")).expect("mkdir");
        let err = create("taken", Lang::Rust, &tmp.path().join("taken")).expect_err("exists");
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}
