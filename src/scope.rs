//! What one reader may see, decided once per request: the [`Viewer`]. It carries who is reading,
//! the repositories they may read and the authors rule (`--hide-authors`), and is the one place
//! those rules are applied: reads take its scope into their SQL ([`Viewer::restrict`] puts it
//! into a [`RunFilter`]), the feed drops messages about other repositories
//! ([`Viewer::may_read`]), the board's shared renders are keyed by [`Viewer::scope_key`], and
//! whatever is handed out whole (runs, feed changes, triage incidents, the Wall) goes through its
//! `redact_*` methods first.
//!
//! `web::access` makes the viewer of a request (from the board token, the admin token, a display
//! or API token, or a signed-in session through [`Viewer::scoped`]).

use std::sync::Arc;

use crate::store::model::{Change, CommitInfo, Run};
use crate::store::query::{RepoScope, RunFilter};
use crate::store::runpage::RunDetail;
use crate::store::triage::Incident;
use crate::store::wall::Wall;

/// Who is reading, for logs and the admin routes; not what they may read (that is the scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Nobody signed in, on a board open to anyone.
    Anonymous,
    /// The shared board token (`--board-token`), or its cookie.
    BoardToken,
    /// The admin token (`--admin-token`).
    Admin,
    /// A stored display or API token, by its id and name.
    Token { id: i64, name: String },
    /// A person signed in with GitHub, by login.
    User { login: String },
}

/// The repositories a viewer may read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Repos {
    /// Every repository on the board.
    All,
    /// Only these.
    Only(RepoScope),
}

/// Whether names and avatars of people may be shown; the same for every reader of a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privacy {
    /// `--hide-authors`: show no names of people at all.
    pub hide_authors: bool,
}

/// One reader's view of the board; cheap to clone.
#[derive(Debug, Clone)]
pub struct Viewer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    who: Who,
    repos: Repos,
    privacy: Privacy,
    /// [`Viewer::scope_key`], computed once.
    key: String,
}

impl Viewer {
    /// A viewer who may read every repository.
    pub fn all(who: Who, privacy: Privacy) -> Self {
        Self::new(who, Repos::All, privacy)
    }

    /// A viewer who may read only `repos` ("owner/name", any case), with names of people shown;
    /// see [`Viewer::with_privacy`]. A signed-in session makes its viewer this way.
    pub fn scoped(who: Who, repos: impl IntoIterator<Item = String>) -> Self {
        Self::new(who, Repos::Only(RepoScope::new(repos)), Privacy::default())
    }

    /// A viewer of `repos`.
    pub fn new(who: Who, repos: Repos, privacy: Privacy) -> Self {
        let key = match &repos {
            Repos::All => "all".to_owned(),
            Repos::Only(scope) => {
                use sha2::Digest;
                let mut hash = sha2::Sha256::new();
                for name in scope.names() {
                    hash.update(name.as_bytes());
                    hash.update([0]);
                }
                format!("only:{}", hex::encode(&hash.finalize()[..16]))
            }
        };
        Self(Arc::new(Inner {
            who,
            repos,
            privacy,
            key,
        }))
    }

    /// The same viewer under the server's authors rule.
    #[must_use]
    pub fn with_privacy(self, privacy: Privacy) -> Self {
        Self::new(self.0.who.clone(), self.0.repos.clone(), privacy)
    }

    /// Who is reading.
    pub fn who(&self) -> &Who {
        &self.0.who
    }

    /// What they may read.
    pub fn repos(&self) -> &Repos {
        &self.0.repos
    }

    /// Their scope for the store: `None` when they may read everything.
    pub fn scope(&self) -> Option<&RepoScope> {
        match &self.0.repos {
            Repos::All => None,
            Repos::Only(scope) => Some(scope),
        }
    }

    /// Whether they may read `repo` ("owner/name").
    pub fn may_read(&self, repo: &str) -> bool {
        self.scope().is_none_or(|scope| scope.contains(repo))
    }

    /// Whether they may read every repository.
    pub fn reads_all(&self) -> bool {
        self.0.repos == Repos::All
    }

    /// Whether they hold the admin token.
    pub fn is_admin(&self) -> bool {
        self.0.who == Who::Admin
    }

    /// Equal for two viewers who see exactly the same (the same repositories): renders shared
    /// between viewers are keyed by it. Names no repository.
    pub fn scope_key(&self) -> &str {
        &self.0.key
    }

    /// `filter` limited to what this viewer may read.
    #[must_use]
    pub fn restrict(&self, mut filter: RunFilter) -> RunFilter {
        filter.scope = self.scope().cloned();
        filter
    }

    /// The authors rule.
    pub fn privacy(&self) -> Privacy {
        self.0.privacy
    }

    /// Whether names of people are hidden from this viewer.
    pub fn hide_authors(&self) -> bool {
        self.0.privacy.hide_authors
    }

    /// Removes the names and avatars of people from `run`.
    pub fn redact_run(&self, run: &mut Run) {
        self.0.privacy.redact_run(run);
    }

    /// [`Self::redact_run`] for each of `runs`.
    pub fn redact_runs(&self, runs: &mut [Run]) {
        runs.iter_mut().for_each(|run| self.redact_run(run));
    }

    /// Removes the culprit, the pushers and every run's author from a triage incident.
    pub fn redact_incident(&self, incident: &mut Incident) {
        self.0.privacy.redact_incident(incident);
    }

    /// Removes the names of people from the Wall's tiles.
    pub fn redact_wall(&self, wall: &mut Wall) {
        self.0.privacy.redact_wall(wall);
    }

    /// Removes people from a run in detail, and the other repositories where its failure was
    /// seen that this viewer may not read.
    pub fn redact_detail(&self, detail: &mut RunDetail) {
        self.0.privacy.redact_detail(detail);
        let failures = detail
            .attempts
            .iter_mut()
            .flat_map(|attempt| attempt.jobs.iter_mut())
            .filter_map(|job| job.failure.as_mut())
            .filter_map(|failure| failure.elsewhere.as_mut());
        for elsewhere in failures {
            elsewhere.workflows.retain(|seen| self.may_read(&seen.repo));
        }
    }

    /// Refuses a filter by person while names are hidden: its answer would reveal who started
    /// which run.
    ///
    /// # Errors
    /// The reason, for a `400`.
    pub fn check_filter(&self, filter: &RunFilter) -> Result<(), &'static str> {
        self.0.privacy.check_filter(filter)
    }
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
            Change::Commit { commit } => self.redact_commit(commit),
            Change::Job { .. } | Change::Branch { .. } => {}
        }
    }

    /// Removes the author's name and login from a commit.
    pub fn redact_commit(self, commit: &mut CommitInfo) {
        if self.hide_authors {
            commit.author = None;
            commit.author_login = None;
        }
    }

    /// Removes people from a run in detail: its author and its commit's.
    pub fn redact_detail(self, detail: &mut RunDetail) {
        self.redact_run(&mut detail.run);
        if let Some(commit) = &mut detail.commit {
            self.redact_commit(commit);
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
            if let Some(claim) = &mut red.claim {
                claim.by = None;
            }
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
                for failing in &mut tile.failing {
                    failing.culprit = None;
                    if let Some(claim) = &mut failing.claim {
                        claim.by = None;
                    }
                }
            }
        }
    }

    /// See [`Viewer::check_filter`].
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

    #[test]
    fn a_scoped_viewer_reads_only_its_repositories_and_shares_renders_with_its_equals() {
        let who = Who::User {
            login: "mona".into(),
        };
        let two = Viewer::scoped(who.clone(), ["o/a".to_owned(), "o/b".to_owned()]);
        assert!(two.may_read("o/a") && two.may_read("O/B") && !two.may_read("o/c"));
        assert_eq!(
            two.restrict(RunFilter::default()).scope,
            Some(RepoScope::new(["o/b".to_owned(), "o/a".to_owned()]))
        );
        let same = Viewer::scoped(Who::Anonymous, ["O/B".to_owned(), "o/a".to_owned()]);
        assert_eq!(two.scope_key(), same.scope_key());
        assert!(
            !two.scope_key().contains("o/"),
            "the key names no repository"
        );
        let other = Viewer::scoped(who, ["o/a".to_owned()]);
        assert_ne!(two.scope_key(), other.scope_key());
        let all = Viewer::all(Who::Anonymous, Privacy::default());
        assert!(all.may_read("o/c") && all.restrict(RunFilter::default()).scope.is_none());
        assert_ne!(all.scope_key(), two.scope_key());
    }
}
