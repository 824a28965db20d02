//! `import --from-beta9 … --sync`: the target workspace mirrors one platform workspace's registry
//! secrets. Only entries whose sealed origin is `beta9:<that workspace>` are ever replaced or
//! removed; an entry added by hand or imported from elsewhere is never touched, even when the
//! platform has a secret for its registry (docs/storage.md, "Entry lifecycle").

use super::outcome::{CmdResult, Failure};
use crate::actions;
use crate::context::Context;
use crate::error::printable;
use crate::output::Output;
use crate::record::{self, Lifecycle};
use std::collections::BTreeSet;

/// One platform secret (`import --from-beta9`): its name and the record it decrypted to.
pub(super) struct PlatformRecord {
    pub(super) secret: String,
    pub(super) record: record::Record,
}

/// What the sync does for one registry.
enum Step<'a> {
    Add(&'a PlatformRecord),
    Replace(&'a PlatformRecord),
    Unchanged(&'a PlatformRecord),
    /// The registry's entry has another origin: left alone.
    Foreign(&'a PlatformRecord, String),
    /// Imported earlier by this sync; the platform no longer has it.
    Remove(crate::registry::Registry),
}

/// Plans against the current entries, then (unless `dry_run`) carries the plan out, each write
/// re-checking the origin under the entry's lock. One stdout line per registry:
/// `add|replace|unchanged|skip|remove <TAB> registry <TAB> …`; never a value.
pub(super) fn run(
    ctx: &Context,
    origin: &str,
    platform: &[&PlatformRecord],
    expires_in: Option<u64>,
    dry_run: bool,
    mut out: Output,
) -> CmdResult {
    let current = actions::entries(ctx)?;
    let mut steps = Vec::new();
    for p in platform {
        let here = current
            .iter()
            .find(|e| e.record.registry == p.record.registry);
        steps.push(match here {
            None => Step::Add(p),
            Some(e) if e.life.origin.as_deref() != Some(origin) => Step::Foreign(
                p,
                e.life
                    .origin
                    .clone()
                    .unwrap_or_else(|| "an earlier version".into()),
            ),
            Some(e)
                if expires_in.is_none()
                    && e.life.expires_at.is_none()
                    && record::record_json(&e.record).as_slice()
                        == record::record_json(&p.record).as_slice() =>
            {
                Step::Unchanged(p)
            }
            Some(_) => Step::Replace(p),
        });
    }
    let wanted: BTreeSet<_> = platform.iter().map(|p| &p.record.registry).collect();
    for e in &current {
        if e.life.origin.as_deref() == Some(origin) && !wanted.contains(&e.record.registry) {
            steps.push(Step::Remove(e.record.registry.clone()));
        }
    }
    let life = Lifecycle::new(origin, expires_in, ctx.now());
    let (mut changed, total) = (0, steps.len());
    for step in &steps {
        let line = match step {
            Step::Add(p) | Step::Replace(p) => {
                let verb = if matches!(step, Step::Add(_)) {
                    "add"
                } else {
                    "replace"
                };
                if !dry_run {
                    match actions::save_owned(ctx, &p.record, &life)
                        .map_err(|e| partial(Failure::from(e), changed, total))?
                    {
                        Some(_) => changed += 1,
                        None => {
                            out.notes.push(format!(
                                "{}: another writer stored it meanwhile; left alone",
                                p.record.registry
                            ));
                            continue;
                        }
                    }
                }
                format!(
                    "{verb}\t{}\t{}\t{}",
                    p.record.registry, p.record.kind, p.secret
                )
            }
            Step::Unchanged(p) => format!(
                "unchanged\t{}\t{}\t{}",
                p.record.registry, p.record.kind, p.secret
            ),
            Step::Foreign(p, by) => {
                out.notes.push(format!(
                    "{}: the entry here was written by {} (not by this sync), so it is left alone",
                    p.record.registry,
                    printable(by)
                ));
                format!(
                    "skip\t{}\t{}\t{}",
                    p.record.registry, p.record.kind, p.secret
                )
            }
            Step::Remove(registry) => {
                if !dry_run {
                    if actions::remove_owned(ctx, registry, origin)
                        .map_err(|e| partial(Failure::from(e), changed, total))?
                    {
                        changed += 1;
                    } else {
                        continue;
                    }
                }
                format!("remove\t{registry}\t{}", registry.secret_name())
            }
        };
        out.println(line);
    }
    out.notes.push(if dry_run {
        format!(
            "dry run: the plan to mirror {origin} in workspace {}; nothing was changed",
            ctx.workspace
        )
    } else {
        format!(
            "synced {origin} into workspace {}: {changed} change{}",
            ctx.workspace,
            if changed == 1 { "" } else { "s" }
        )
    });
    Ok(out)
}

fn partial(f: Failure, done: usize, total: usize) -> Failure {
    let more = format!(" (after {done} of {total} steps: run the sync again to finish)");
    match f {
        Failure::User(m) => Failure::User(m + &more),
        Failure::Internal(m) => Failure::Internal(m + &more),
    }
}
