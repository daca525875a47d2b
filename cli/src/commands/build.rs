//! `wasmpod build`: in a project made by `wasmpod new` (or shaped like one), runs the documented
//! build for its language and says where the component is. The language comes from the files:
//! `Cargo.toml` (Rust), `package.json` + `build.mjs` (JavaScript), `pyproject.toml` + `build.py`
//! (Python). A missing toolchain is an error that names the command that installs it; the pinned
//! componentize-js / componentize-py are installed by the project's own build script.

use super::new::Lang;
use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const WASM_TARGET: &str = "wasm32-wasip2";

#[derive(Debug, Args)]
pub struct Build {
    /// Project directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Rebuild even when the component is up to date (JavaScript, Python)
    #[arg(long)]
    pub force: bool,
}

impl Build {
    pub async fn run(self) -> anyhow::Result<()> {
        let dir = self
            .dir
            .canonicalize()
            .with_context(|| format!("no directory {}", self.dir.display()))?;
        let lang = detect(&dir)?;
        let started = Instant::now();
        let out = match lang {
            Lang::Rust => build_rust(&dir)?,
            Lang::Js => build_script(&dir, lang, "node", "build.mjs", self.force)?,
            Lang::Python => build_script(&dir, lang, "python3", "build.py", self.force)?,
        };
        let size = std::fs::metadata(&out)
            .with_context(|| format!("the build succeeded but {} is missing", out.display()))?
            .len();
        let shown = out.strip_prefix(&dir).unwrap_or(&out);
        eprintln!(
            "component: {} ({:.1} MB, {:.1} s); deploy with `wasmpod apply -f deploy.yaml`",
            shown.display(),
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Which language a project directory holds.
pub fn detect(dir: &Path) -> anyhow::Result<Lang> {
    let has = |file: &str| dir.join(file).is_file();
    if has("Cargo.toml") {
        Ok(Lang::Rust)
    } else if has("package.json") && has("build.mjs") {
        Ok(Lang::Js)
    } else if has("pyproject.toml") && has("build.py") {
        Ok(Lang::Python)
    } else {
        bail!(
            "{} is not a wasmpod project: expected Cargo.toml (Rust), package.json + build.mjs (JavaScript) \
             or pyproject.toml + build.py (Python); create one with `wasmpod new NAME --lang rust|js|python`",
            dir.display()
        )
    }
}

/// Fails with `install` in the message when `program --version` cannot run.
fn require(program: &str, args: &[&str], install: &str) -> anyhow::Result<()> {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!("{program} is missing: {install}");
    }
    Ok(())
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The package name from a Cargo.toml's `[package]` table.
fn crate_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line
                .strip_prefix("name")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('='))
            {
                return Some(value.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

fn build_rust(dir: &Path) -> anyhow::Result<PathBuf> {
    require(
        "cargo",
        &["--version"],
        "install Rust with rustup, then `rustup target add wasm32-wasip2`",
    )?;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET) => {}
        Ok(_) => {
            eprintln!("installing the {WASM_TARGET} target (rustup target add {WASM_TARGET})...");
            run(
                Command::new("rustup").args(["target", "add", WASM_TARGET]),
                "`rustup target add wasm32-wasip2`",
            )?;
        }
        Err(_) => eprintln!("rustup not found: assuming the {WASM_TARGET} target is installed"),
    }
    let manifest =
        std::fs::read_to_string(dir.join("Cargo.toml")).context("cannot read Cargo.toml")?;
    let name = crate_name(&manifest).context("Cargo.toml has no [package] name")?;
    eprintln!(
        "building {} (Rust): cargo build --release --target {WASM_TARGET}",
        dir.display()
    );
    // `--target-dir target`: where deploy.yaml looks, whatever CARGO_TARGET_DIR says.
    run(
        Command::new("cargo")
            .args([
                "build",
                "--release",
                "--target",
                WASM_TARGET,
                "--target-dir",
                "target",
            ])
            .current_dir(dir),
        "cargo build",
    )?;
    Ok(dir
        .join("target")
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_"))))
}

/// Runs the project's own build script, which installs its pinned toolchain and writes `<name>.wasm`.
fn build_script(
    dir: &Path,
    lang: Lang,
    program: &str,
    script: &str,
    force: bool,
) -> anyhow::Result<PathBuf> {
    match lang {
        Lang::Js => {
            let install = "install Node.js 18+ with npm (Debian: `apt-get install nodejs npm`)";
            require("node", &["--version"], install)?;
            require("npm", &["--version"], install)?;
        }
        _ => {
            require(
                "python3",
                &["--version"],
                "install Python 3.10+ with pip (Debian: `apt-get install python3 python3-pip`)",
            )?;
            require(
                "python3",
                &["-m", "pip", "--version"],
                "its pip is: install it (Debian: `apt-get install python3-pip`, or `python3 -m ensurepip`)",
            )?;
        }
    }
    let name = project_name(dir, lang)?;
    eprintln!(
        "building {} ({}): {program} {script}",
        dir.display(),
        lang.label()
    );
    let mut command = Command::new(program);
    command.arg(script).current_dir(dir);
    if force {
        command.arg("--force");
    }
    run(&mut command, &format!("`{program} {script}`"))?;
    Ok(dir.join(format!("{name}.wasm")))
}

/// The name the build script gives the component: package.json's or pyproject.toml's `name`.
fn project_name(dir: &Path, lang: Lang) -> anyhow::Result<String> {
    let (file, key) = match lang {
        Lang::Js => ("package.json", "\"name\""),
        _ => ("pyproject.toml", "name"),
    };
    let text =
        std::fs::read_to_string(dir.join(file)).with_context(|| format!("cannot read {file}"))?;
    text.lines()
        .map(str::trim)
        .find_map(|l| {
            l.strip_prefix(key)
                .map(str::trim)
                .and_then(|r| r.strip_prefix([':', '=']))
        })
        .map(|v| {
            v.trim()
                .trim_end_matches(',')
                .trim()
                .trim_matches('"')
                .to_string()
        })
        .with_context(|| format!("{file} has no name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_the_project_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for (lang, name) in [(Lang::Rust, "r"), (Lang::Js, "j"), (Lang::Python, "p")] {
            let dir = tmp.path().join(name);
            super::super::new::create("svc-1", lang, &dir).expect("project");
            assert_eq!(detect(&dir).expect("detected"), lang);
            if lang != Lang::Rust {
                assert_eq!(project_name(&dir, lang).expect("name"), "svc-1");
            }
        }
        let err = detect(tmp.path()).expect_err("empty dir");
        assert!(err.to_string().contains("wasmpod new NAME"), "{err}");
    }

    #[test]
    fn crate_name_reads_the_package_table() {
        let manifest = "[lib]\nname = \"x\"\n[package]\nversion = \"1\"\nname = \"my-svc\"\n";
        assert_eq!(crate_name(manifest).as_deref(), Some("my-svc"));
    }
}
