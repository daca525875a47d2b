//! `get -w`: after the list, each change to the listed kinds as it comes, from the revision the
//! list was read at: a table row (no header) per change, or the object in `-o yaml|json|name`.
//! It runs until a watch ends (the server went away) or Ctrl-C.

use crate::output::print::{self, Found, PrintOptions};
use crate::output::Format;
use anyhow::Context;
use futures::StreamExt;
use std::io::Write;
use wasmpod_api::client::ListOptions;
use wasmpod_api::{AnyObject, Client, Kind, WatchEventType};

/// One kind to watch, from `revision`: only the objects `names` lists, or all (None).
pub struct WatchTarget {
    pub kind: Kind,
    pub revision: u64,
    pub names: Option<Vec<String>>,
}

/// Prints every change to `targets` until one of the watches ends.
pub async fn follow(
    client: &Client,
    targets: Vec<WatchTarget>,
    namespace: Option<&str>,
    selector: &ListOptions,
    options: &PrintOptions,
    all_pods: &[AnyObject],
) -> anyhow::Result<()> {
    let mut streams = Vec::new();
    for target in targets {
        let events = client
            .watch_selected(target.kind, namespace, selector, target.revision)
            .await
            .with_context(|| format!("watching {}", target.kind.plural()))?;
        let names = target.names;
        streams.push(
            events
                .map(move |event| (target.kind, names.clone(), event))
                .boxed(),
        );
    }
    let row_options = PrintOptions {
        no_headers: true,
        ..options.clone()
    };
    let mut changes = futures::stream::select_all(streams);
    while let Some((kind, names, event)) = changes.next().await {
        let event = event.with_context(|| format!("reading the watch of {}", kind.plural()))?;
        if event.event_type == WatchEventType::Bookmark {
            continue;
        }
        let Some(object) = event.object else { continue };
        if names
            .as_ref()
            .is_some_and(|names| !names.iter().any(|n| n == object.name()))
        {
            continue;
        }
        let single = !matches!(options.format, Format::Table | Format::Wide);
        let found = Found {
            groups: vec![(kind, vec![object])],
            single,
        };
        let text = print::render(found, &row_options, all_pods)?;
        let mut out = std::io::stdout().lock();
        if matches!(options.format, Format::Yaml) {
            writeln!(out, "---")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
    }
    Ok(())
}
