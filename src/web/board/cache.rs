//! The board's shared renders: every live part, rendered once per published change for every
//! viewer of the same URL who may read the same repositories, and the filter form's names (per
//! such scope too), read at most once a minute.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::scope::Viewer;
use crate::store::names::{self, KnownNames};
use crate::web::{AppState, Error};

/// Cached parts kept before old ones are dropped.
const CACHE_ENTRIES: usize = 256;

/// Rendered parts shared by viewers: one render per scope per URL per published change.
///
/// An entry is keyed by the viewer's scope (see [`Viewer::scope_key`]) with the URL, and the
/// hub's generation when it was rendered; once a change is
/// published the generation moves and the next request renders afresh. Concurrent requests for a
/// missing entry wait for the same render.
#[derive(Clone, Default)]
pub struct Cache {
    entries: Arc<Mutex<HashMap<CacheKey, Slot>>>,
    /// The names the filter form offers per scope, and when they were read: kept for
    /// [`NAMES_TTL`], as they change with the organisation, not with every run.
    names: Arc<Mutex<HashMap<String, ReadNames>>>,
}

/// The filter form's names and when they were read.
type ReadNames = (Instant, Arc<KnownNames>);

/// How long the filter form's names are reused before they are read again.
const NAMES_TTL: Duration = Duration::from_secs(60);

/// Scopes whose names are kept at most.
const NAMES_SCOPES: usize = 256;

/// A part's scope and URL, and the generation it was rendered at.
type CacheKey = (String, u64);
/// A rendered part, or the render in progress that concurrent requests wait for.
type Slot = Arc<OnceCell<Arc<str>>>;

impl Cache {
    /// The filter form's names for `viewer` (only what they may read), read at most once per
    /// [`NAMES_TTL`] for each scope.
    pub(super) async fn known_names(
        &self,
        state: &AppState,
        viewer: &Viewer,
    ) -> Result<Arc<KnownNames>, Error> {
        // Names depend on the watched branches: a change of the settings reads them afresh.
        let key = format!("{} {}", viewer.scope_key(), state.settings.generation());
        let fresh = self
            .names
            .lock()
            .expect("the cache lock is never poisoned")
            .get(&key)
            .filter(|(at, _)| at.elapsed() < NAMES_TTL)
            .map(|(_, names)| names.clone());
        if let Some(names) = fresh {
            return Ok(names);
        }
        let watched = state.settings.watched();
        let scope = viewer.scope().cloned();
        let names = Arc::new(
            state
                .store
                .read(move |conn| names::known(conn, &watched, scope.as_ref()))
                .await?,
        );
        let mut kept = self.names.lock().expect("the cache lock is never poisoned");
        if kept.len() >= NAMES_SCOPES {
            kept.clear();
        }
        kept.insert(key, (Instant::now(), names.clone()));
        Ok(names)
    }

    /// The part for `key` at `generation`, rendering it with `render` if nobody has yet.
    pub(super) async fn get_or_render<F, Fut>(
        &self,
        key: String,
        generation: u64,
        render: F,
    ) -> Result<Arc<str>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, Error>>,
    {
        let cell = {
            let mut entries = self
                .entries
                .lock()
                .expect("the cache lock is never poisoned");
            if entries.len() >= CACHE_ENTRIES {
                entries.retain(|(_, g), _| *g >= generation);
                if entries.len() >= CACHE_ENTRIES {
                    entries.clear();
                }
            }
            entries.entry((key, generation)).or_default().clone()
        };
        cell.get_or_try_init(|| async { render().await.map(Arc::from) })
            .await
            .cloned()
    }
}
