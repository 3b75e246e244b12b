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
