//! Figures counted from whole tables, kept a few seconds while an issue goes
//! out.
//!
//! An issue's report reads every copy sent so far with its reader's domain;
//! the dashboard counts every subscriber and a month of their events. At
//! 100,000 readers each is tens of milliseconds, and during a send it
//! competes with the send for the database: `herald-bench mixed` (a send to
//! 100,000 readers, 500 signups a second, each admin page viewed 20 times a
//! second) measured the issue page at p99 168 ms after 20 s, and once the
//! views piled up they slowed the send itself to 420 copies a second; on
//! PostgreSQL the dashboard reached p99 254 ms. During a send these figures
//! move with every copy and signup anyway, so a view gets them as counted at
//! most `FRESH_FOR` ago: the first view counts them; a view of older ones
//! gets them at once while one background task counts them again.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How old the figures shown during a send can be.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Counted<V> {
    value: V,
    at: Instant,
    /// A background task is counting it again.
    recounting: bool,
}

/// Figures by key (an issue, or `()` for the dashboard).
#[derive(Debug)]
pub struct RecentlyCounted<K, V> {
    entries: Mutex<HashMap<K, Counted<V>>>,
}

impl<K, V> Default for RecentlyCounted<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V> RecentlyCounted<K, V>
where
    K: Hash + Eq + Copy + Send + Sync + std::fmt::Debug + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The figures of `key` as `count` makes them, counted at most
    /// `FRESH_FOR` ago (or a little more, while they are counted again).
    /// `self` must live in an `Arc` so that the background count can store
    /// what it counted.
    pub async fn get<F, Fut>(
        self: &std::sync::Arc<Self>,
        key: K,
        count: F,
    ) -> Result<V, sqlx::Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, sqlx::Error>> + Send + 'static,
    {
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(counted) = entries.get_mut(&key) {
                if counted.at.elapsed() >= FRESH_FOR && !counted.recounting {
                    counted.recounting = true;
                    let counting = count();
                    let this = self.clone();
                    tokio::spawn(async move {
                        let recounted = counting.await;
                        this.store(key, recounted);
                    });
                }
                return Ok(counted.value.clone());
            }
        }
        let value = count().await?;
        self.store(key, Ok(value.clone()));
        Ok(value)
    }

    fn store(&self, key: K, counted: Result<V, sqlx::Error>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match counted {
            Ok(value) => {
                entries.insert(
                    key,
                    Counted {
                        value,
                        at: Instant::now(),
                        recounting: false,
                    },
                );
            }
            // The next view tries again; until then the last figures stand.
            Err(error) => {
                tracing::warn!(%error, ?key, "cannot count the figures again");
                if let Some(counted) = entries.get_mut(&key) {
                    counted.recounting = false;
                }
            }
        }
    }

    /// Drops the figures of `key`: the next `get` counts them.
    pub fn forget(&self, key: K) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use super::RecentlyCounted;

    #[tokio::test]
    async fn fresh_figures_are_kept_and_old_ones_counted_again_behind_the_view() {
        let figures: Arc<RecentlyCounted<i64, i64>> = Arc::default();
        let counts = Arc::new(AtomicI64::new(0));
        let count = || {
            let counts = counts.clone();
            async move { Ok(counts.fetch_add(1, Ordering::SeqCst) + 1) }
        };
        assert_eq!(figures.get(7, count).await.expect("first count"), 1);
        assert_eq!(figures.get(7, count).await.expect("fresh"), 1);
        // Another key is counted on its own.
        assert_eq!(figures.get(8, count).await.expect("another key"), 2);
        // Age the entry by hand rather than wait five seconds.
        {
            let mut entries = figures.entries.lock().expect("lock");
            let entry = entries.get_mut(&7).expect("an entry");
            entry.at -= super::FRESH_FOR;
        }
        // The old figures come back at once; the recount lands behind them.
        assert_eq!(figures.get(7, count).await.expect("old figures"), 1);
        tokio::task::yield_now().await;
        assert_eq!(figures.get(7, count).await.expect("recounted"), 3);
        figures.forget(7);
        assert_eq!(figures.get(7, count).await.expect("counted again"), 4);
    }
}
