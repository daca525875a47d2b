//! `wasmpod -n dev get pods`: the flags every client verb shares (`-n`, `--namespace`,
//! `--server`, `--token`, `-o`, `--output`) may come before the verb, as with kubectl.
//!
//! They are moved to the end of the command line before clap parses (after the verb and any
//! sub-verb: `wasmpod -n dev create configmap c --from-literal k=v`). They cannot be clap `global` arguments of
//! the top command: `worker` has a `--token` of its own (the join token), and a global one would
//! clash with it. A flag moved after a verb that does not take it is refused by that verb, with
//! clap's usual message.

use std::ffi::OsString;

/// Flags that take a value.
const WITH_VALUE: [&str; 6] = ["-n", "--namespace", "--server", "--token", "-o", "--output"];

/// Returns `args` (program name first) with the shared flags found before the verb moved to
/// the end.
pub fn hoist(args: Vec<OsString>) -> Vec<OsString> {
    let mut iter = args.into_iter();
    let Some(program) = iter.next() else {
        return Vec::new();
    };
    let rest: Vec<OsString> = iter.collect();
    let mut moved = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let Some(arg) = rest[i].to_str() else {
            break;
        };
        if WITH_VALUE.contains(&arg) && i + 1 < rest.len() {
            moved.push(rest[i].clone());
            moved.push(rest[i + 1].clone());
            i += 2;
        } else if WITH_VALUE
            .iter()
            .any(|f| f.starts_with("--") && arg.starts_with(&format!("{f}=")))
            || (arg.len() > 2
                && (arg.starts_with("-n") || arg.starts_with("-o"))
                && !arg.starts_with("--"))
        {
            moved.push(rest[i].clone());
            i += 1;
        } else {
            break;
        }
    }
    if moved.is_empty() || i >= rest.len() {
        // Nothing before the verb, or no verb at all: clap explains.
        let mut out = vec![program];
        out.extend(rest);
        return out;
    }
    let mut out = vec![program];
    out.extend(rest[i..].iter().cloned());
    out.extend(moved);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Vec<String> {
        hoist(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn flags_before_the_verb_move_after_it() {
        assert_eq!(
            run(&["wasmpod", "-n", "dev", "get", "pods"]),
            ["wasmpod", "get", "pods", "-n", "dev"]
        );
        assert_eq!(
            run(&["wasmpod", "--server=http://x", "-oyaml", "get", "pods"]),
            ["wasmpod", "get", "pods", "--server=http://x", "-oyaml"]
        );
        assert_eq!(
            run(&["wasmpod", "get", "pods", "-n", "x"]),
            ["wasmpod", "get", "pods", "-n", "x"]
        );
        assert_eq!(
            run(&["wasmpod", "-n", "dev", "create", "cm", "c"]),
            ["wasmpod", "create", "cm", "c", "-n", "dev"]
        );
        assert_eq!(run(&["wasmpod", "--help"]), ["wasmpod", "--help"]);
        assert_eq!(run(&["wasmpod", "-n", "dev"]), ["wasmpod", "-n", "dev"]);
    }
}
