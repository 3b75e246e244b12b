//! Watched branches: the branches whose state the TV, Triage, notifications and `cc.xml` speak
//! for by default. Every repository's default branch is watched; `--watch-branches` adds globs
//! (`release/*`, `main,develop`). A feature branch is work in progress: red there is not news.
//!
//! The globs are SQLite `GLOB` patterns (`*` any run of characters, `/` included; `?` one
//! character; `[abc]` one of), so the same rule filters in SQL and, through [`glob::Pattern`],
//! in Rust.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::Value;

/// The branches watched beyond each repository's default branch.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WatchedBranches {
    globs: Vec<String>,
}

impl WatchedBranches {
    /// The globs beyond the default branch.
    pub fn globs(&self) -> &[String] {
        &self.globs
    }

    /// Is `branch` watched in a repository whose default branch is `default_branch`?
    pub fn contains(&self, branch: &str, default_branch: Option<&str>) -> bool {
        default_branch == Some(branch)
            || self
                .globs
                .iter()
                .any(|glob| glob::Pattern::new(glob).is_ok_and(|pattern| pattern.matches(branch)))
    }

    /// What `branch` is in a repository whose default branch is `default_branch`: the default
    /// branch, another watched branch, or a feature branch (work in progress).
    pub fn kind(&self, branch: &str, default_branch: Option<&str>) -> BranchKind {
        if default_branch == Some(branch) {
            BranchKind::Default
        } else if self.contains(branch, default_branch) {
            BranchKind::Watched
        } else {
            BranchKind::Feature
        }
    }

    /// An SQL condition that holds for watched branches, over a branch-name column and the
    /// repository's default-branch column, with its parameters.
    pub fn sql(&self, branch: &str, default_branch: &str) -> (String, Vec<Value>) {
        let mut condition = format!("({branch} = {default_branch}");
        for _ in &self.globs {
            condition.push_str(&format!(" OR {branch} GLOB ?"));
        }
        condition.push(')');
        let params = self.globs.iter().cloned().map(Value::Text).collect();
        (condition, params)
    }
}

/// What a branch is to the board, so a view can mark the default and watched branches apart from
/// feature branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchKind {
    /// The repository's default branch (always watched).
    Default,
    /// A branch `--watch-branches` names.
    Watched,
    /// Any other branch: work in progress.
    Feature,
}

impl BranchKind {
    /// The name a page's class uses: `default`, `watched`, `feature`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Watched => "watched",
            Self::Feature => "feature",
        }
    }

    /// The mark shown before the branch's name, so the kinds differ without colour.
    pub const fn mark(self) -> &'static str {
        match self {
            Self::Default => "★",
            Self::Watched => "◆",
            Self::Feature => "⎇",
        }
    }

    /// What the mark means, for the hover text and screen readers.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Default => "default branch",
            Self::Watched => "watched branch",
            Self::Feature => "feature branch",
        }
    }
}

impl FromStr for WatchedBranches {
    type Err = String;

    /// Comma-separated globs; blanks are ignored.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut globs = Vec::new();
        for glob in list.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            glob::Pattern::new(glob)
                .map_err(|err| format!("{glob:?} is not a branch glob: {err}"))?;
            globs.push(glob.to_owned());
        }
        Ok(Self { globs })
    }
}

impl fmt::Debug for WatchedBranches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "default branch")?;
        for glob in &self.globs {
            write!(f, ", {glob}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_branch_is_always_watched_and_globs_add_more() {
        let watched: WatchedBranches = "release/*, develop".parse().unwrap();
        assert!(watched.contains("main", Some("main")));
        assert!(watched.contains("release/2026.11", Some("main")));
        assert!(watched.contains("develop", Some("main")));
        assert!(!watched.contains("feature/x", Some("main")));
        assert!(!watched.contains("main", Some("master")));
        assert!(WatchedBranches::default().contains("master", Some("master")));
    }

    #[test]
    fn branches_are_default_watched_or_feature() {
        let watched: WatchedBranches = "release/*".parse().unwrap();
        assert_eq!(watched.kind("main", Some("main")), BranchKind::Default);
        assert_eq!(watched.kind("release/1", Some("main")), BranchKind::Watched);
        assert_eq!(watched.kind("feat/x", Some("main")), BranchKind::Feature);
        assert_eq!(watched.kind("main", None), BranchKind::Feature);
    }

    #[test]
    fn a_bad_glob_is_refused_with_its_text() {
        let err = "release/[".parse::<WatchedBranches>().unwrap_err();
        assert!(err.contains("release/["), "{err}");
    }

    #[test]
    fn the_sql_condition_has_one_parameter_per_glob() {
        let watched: WatchedBranches = "release/*".parse().unwrap();
        let (sql, params) = watched.sql("b.name", "repos.defaultbranch");
        assert_eq!(sql, "(b.name = repos.defaultbranch OR b.name GLOB ?)");
        assert_eq!(params, vec![Value::Text("release/*".into())]);
    }
}
