//! Settings an admin changes in the browser (`/settings`) while the server runs: the watched
//! branches, author hiding and the notification targets.
//!
//! One mechanism carries them to their readers: a [`tokio::sync::watch`] channel holding the
//! current [`Current`]. Readers take a snapshot per request or per transaction
//! ([`Settings::current`]); the feed's sockets subscribe ([`Settings::subscribe`]) and reconnect
//! on a change, so that no open screen keeps the old rule. Each change moves
//! [`Current::generation`], which is part of the render cache's generation: no cached part made
//! under the old settings is served after a change.
//!
//! Flags and environment variables win: a setting a flag gives is [`Fixed`] by that flag, the
//! stored value is ignored and the page shows it as fixed. The stored values live in the
//! `settings` table under the `setting.` keys of [`Key`] (see `store::settings`).

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::notify::{Target, Targets};
use crate::scope::Privacy;
use crate::watch::WatchedBranches;

/// The settings the page changes, as every reader sees them now.
#[derive(Clone, Default)]
pub struct Current {
    /// The branches watched besides each default branch.
    pub watched: WatchedBranches,
    /// Whether names of people are shown.
    pub privacy: Privacy,
    /// Where notifications go.
    pub targets: Targets,
    /// Moves on every change; renders cached under an older one are not served.
    pub generation: u64,
}

/// One setting the page can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    WatchBranches,
    HideAuthors,
    NotifyTargets,
}

impl Key {
    /// Its row in the `settings` table and in `settingslog`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WatchBranches => "setting.watch_branches",
            Self::HideAuthors => "setting.hide_authors",
            Self::NotifyTargets => "setting.notify_targets",
        }
    }

    /// Every key, in the page's order.
    pub const ALL: [Self; 3] = [Self::WatchBranches, Self::HideAuthors, Self::NotifyTargets];
}

/// Which settings flags (or their environment variables) fix, by the flag's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fixed {
    pub watch_branches: Option<&'static str>,
    pub hide_authors: Option<&'static str>,
    pub notify_targets: Option<&'static str>,
}

impl Fixed {
    /// What `config` fixes: a non-empty `--watch-branches`, `--hide-authors`, and
    /// `--notify-config` or `--notify-slack` (a flag left at its default fixes nothing).
    pub fn of(config: &Config) -> Self {
        Self {
            watch_branches: (!config.watch_branches.globs().is_empty())
                .then_some("--watch-branches (BUILDBOARD_WATCH_BRANCHES)"),
            hide_authors: config
                .hide_authors
                .then_some("--hide-authors (BUILDBOARD_HIDE_AUTHORS)"),
            notify_targets: if config.notify_config.is_some() {
                Some("--notify-config (BUILDBOARD_NOTIFY_CONFIG)")
            } else if config.notify_slack.is_some() {
                Some("--notify-slack (BUILDBOARD_NOTIFY_SLACK)")
            } else {
                None
            },
        }
    }

    /// The flag that fixes `key`, if one does.
    pub fn by(&self, key: Key) -> Option<&'static str> {
        match key {
            Key::WatchBranches => self.watch_branches,
            Key::HideAuthors => self.hide_authors,
            Key::NotifyTargets => self.notify_targets,
        }
    }
}

/// A new value for one setting, parsed and checked.
#[derive(Clone)]
pub enum Value {
    WatchBranches(WatchedBranches),
    HideAuthors(bool),
    NotifyTargets(Targets),
}

impl Value {
    /// Which setting it is for.
    pub const fn key(&self) -> Key {
        match self {
            Self::WatchBranches(_) => Key::WatchBranches,
            Self::HideAuthors(_) => Key::HideAuthors,
            Self::NotifyTargets(_) => Key::NotifyTargets,
        }
    }

    /// Parses the stored text of `key`.
    ///
    /// # Errors
    /// A message naming what is wrong with `text`.
    pub fn parse(key: Key, text: &str) -> Result<Self, String> {
        Ok(match key {
            Key::WatchBranches => Self::WatchBranches(text.parse()?),
            Key::HideAuthors => Self::HideAuthors(match text {
                "true" => true,
                "false" => false,
                _ => return Err(format!("{text:?} is neither true nor false")),
            }),
            Key::NotifyTargets => {
                let list: Vec<Target> = serde_json::from_str(text)
                    .map_err(|err| format!("the stored targets do not parse: {err}"))?;
                Self::NotifyTargets(Targets::new(list).map_err(|err| format!("{err:#}"))?)
            }
        })
    }

    /// The text stored for it.
    pub fn stored(&self) -> String {
        match self {
            Self::WatchBranches(watched) => watched.globs().join(","),
            Self::HideAuthors(hide) => hide.to_string(),
            Self::NotifyTargets(targets) => {
                let list: Vec<&Target> = targets.iter().collect();
                serde_json::to_string(&list).expect("targets serialise")
            }
        }
    }
}

/// The live settings; cheap to clone.
#[derive(Clone)]
pub struct Settings {
    current: Arc<watch::Sender<Arc<Current>>>,
    fixed: Arc<Fixed>,
}

impl Default for Settings {
    fn default() -> Self {
        Self::new(Current::default(), Fixed::default())
    }
}

impl Settings {
    /// Settings starting at `current` (the flags' values), with what `fixed` names fixed.
    pub fn new(current: Current, fixed: Fixed) -> Self {
        Self {
            current: Arc::new(watch::Sender::new(Arc::new(current))),
            fixed: Arc::new(fixed),
        }
    }

    /// The settings now: one snapshot, consistent for a whole request or transaction.
    pub fn current(&self) -> Arc<Current> {
        self.current.borrow().clone()
    }

    /// The watched branches now.
    pub fn watched(&self) -> WatchedBranches {
        self.current.borrow().watched.clone()
    }

    /// The authors rule now.
    pub fn privacy(&self) -> Privacy {
        self.current.borrow().privacy
    }

    /// Moves on every change.
    pub fn generation(&self) -> u64 {
        self.current.borrow().generation
    }

    /// What flags fix.
    pub fn fixed(&self) -> &Fixed {
        &self.fixed
    }

    /// Told of every change from now on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Current>> {
        self.current.subscribe()
    }

    /// Applies `value` from now on; `Err` with the flag's name when a flag fixes it (nothing
    /// changes then).
    ///
    /// # Errors
    /// The flag that fixes the setting.
    pub fn set(&self, value: Value) -> Result<(), &'static str> {
        if let Some(flag) = self.fixed.by(value.key()) {
            return Err(flag);
        }
        self.current.send_modify(|current| {
            let mut next = Current::clone(current);
            match value {
                Value::WatchBranches(watched) => next.watched = watched,
                Value::HideAuthors(hide) => next.privacy.hide_authors = hide,
                Value::NotifyTargets(targets) => next.targets = targets,
            }
            next.generation += 1;
            *current = Arc::new(next);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reaches_readers_and_moves_the_generation_but_a_fixed_one_is_refused() {
        let settings = Settings::new(
            Current::default(),
            Fixed {
                hide_authors: Some("--hide-authors"),
                ..Fixed::default()
            },
        );
        let mut told = settings.subscribe();
        let before = settings.current();
        settings
            .set(Value::parse(Key::WatchBranches, "release/*").unwrap())
            .unwrap();
        assert!(settings.watched().contains("release/1", Some("main")));
        assert!(!before.watched.contains("release/1", Some("main")));
        assert_eq!(settings.generation(), before.generation + 1);
        assert!(told.has_changed().unwrap());
        told.mark_unchanged();
        assert_eq!(
            settings.set(Value::HideAuthors(true)).err(),
            Some("--hide-authors")
        );
        assert!(!settings.privacy().hide_authors && !told.has_changed().unwrap());
    }

    #[test]
    fn stored_values_round_trip_and_bad_ones_are_refused() {
        let targets = r#"[{"name":"ops","kind":"slack","url":"https://hooks.example/x"}]"#;
        let value = Value::parse(Key::NotifyTargets, targets).unwrap();
        let again = Value::parse(Key::NotifyTargets, &value.stored()).unwrap();
        let Value::NotifyTargets(targets) = again else {
            panic!("targets")
        };
        assert_eq!(targets.get("ops").unwrap().url, "https://hooks.example/x");
        assert!(Value::parse(Key::HideAuthors, "yes").is_err());
        assert!(Value::parse(Key::WatchBranches, "release/[").is_err());
        assert!(Value::parse(Key::NotifyTargets, r#"[{"kind":"slack","url":"ftp://x"}]"#).is_err());
    }
}
