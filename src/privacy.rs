//! `--hide-authors`: the one place that decides what a reader may see of people, for pages,
//! fragments, the feed and the API alike. Views ask [`Privacy::hide_authors`] before they draw a
//! name; data handed out whole (builds, feed changes, triage incidents) goes through the
//! `redact_*` methods here first.

use crate::store::model::{Change, Run};
use crate::store::query::RunFilter;
use crate::store::triage::Incident;
use crate::store::wall::Wall;

/// Whether names and avatars of people may be shown; the same for every reader of a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privacy {
    /// `--hide-authors`: show no names of people at all.
    pub hide_authors: bool,
}

impl Privacy {
    /// Removes the names and avatars of people from `run`.
    pub fn redact_run(self, run: &mut Run) {
        if self.hide_authors {
            run.author = None;
            run.author_avatar = None;
        }
    }

    /// [`Self::redact_run`] for each of `runs`.
    pub fn redact_runs(self, runs: &mut [Run]) {
        runs.iter_mut().for_each(|run| self.redact_run(run));
    }

    /// Removes people from a feed change.
    pub fn redact_change(self, change: &mut Change) {
        if !self.hide_authors {
            return;
        }
        match change {
            Change::Run { run } => self.redact_run(run),
            Change::Commit { commit } => {
                commit.author = None;
                commit.author_login = None;
            }
            Change::Job { .. } | Change::Branch { .. } => {}
        }
    }

    /// Removes the culprit, the pushers and every run's author from a triage incident.
    pub fn redact_incident(self, incident: &mut Incident) {
        if !self.hide_authors {
            return;
        }
        incident.culprit = None;
        incident.pushers.clear();
        for red in &mut incident.reds {
            red.authors.clear();
            self.redact_run(&mut red.failing);
            self.redact_run(&mut red.first_red);
            if let Some(green) = &mut red.last_green {
                self.redact_run(green);
            }
        }
    }

    /// Removes the names of people from the Wall's tiles.
    pub fn redact_wall(self, wall: &mut Wall) {
        if self.hide_authors {
            for tile in &mut wall.tiles {
                tile.culprit = None;
                tile.failing.iter_mut().for_each(|f| f.culprit = None);
            }
        }
    }

    /// Refuses a filter by person while names are hidden: its answer would reveal who started
    /// which run.
    ///
    /// # Errors
    /// The reason, for a `400`.
    pub fn check_filter(self, filter: &RunFilter) -> Result<(), &'static str> {
        if self.hide_authors && !filter.author.is_empty() {
            return Err("author is unavailable: this server hides authors (--hide-authors)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_by_person_is_refused_only_while_names_are_hidden() {
        let filter = RunFilter {
            author: vec!["alice".into()],
            ..RunFilter::default()
        };
        assert!(Privacy::default().check_filter(&filter).is_ok());
        let hidden = Privacy { hide_authors: true };
        assert!(hidden.check_filter(&filter).is_err());
        assert!(hidden.check_filter(&RunFilter::default()).is_ok());
    }
}
