//! A dynamic DAG executor: an image starts as soon as all its parents have finished, at most `jobs`
//! at a time. A failure marks everything downstream as not attempted and lets independent branches
//! finish; a cancellation (Ctrl-C) drops the running work and starts nothing more.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use indexmap::IndexMap;

/// How one node of a run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ended<T, E> {
    Done {
        value: T,
        elapsed: Duration,
    },
    Failed {
        error: E,
        elapsed: Duration,
    },
    /// Not started because `because` (an ancestor) failed, or the run was interrupted.
    NotAttempted {
        because: String,
    },
    /// Running when the run was cancelled.
    Interrupted,
}

impl<T, E> Ended<T, E> {
    pub(crate) fn value(&self) -> Option<&T> {
        match self {
            Ended::Done { value, .. } => Some(value),
            _ => None,
        }
    }

    fn blocker(&self, name: &str) -> Option<String> {
        match self {
            Ended::Done { .. } => None,
            Ended::Failed { .. } => Some(name.to_string()),
            Ended::NotAttempted { because } => Some(because.clone()),
            Ended::Interrupted => Some("interrupted".to_string()),
        }
    }
}

/// Runs `work` for every node of `order` (parents before children), giving each the values of its
/// finished parents. `parents` maps a node to the nodes it needs (nodes outside `order` are ignored:
/// they are taken as ready). Returns an outcome for every node, in `order`.
///
/// One loop on purpose: starting ready work, waiting for the next finish and reacting to a
/// cancellation share the same state (what runs, what waits, what ended), and reading them together
/// is what shows the executor never starts work after a cancellation or a parent's failure.
pub(crate) async fn run<T, E, F, Fut>(
    order: &[String],
    parents: &HashMap<String, Vec<String>>,
    jobs: usize,
    mut work: F,
    cancel: impl Future<Output = ()>,
) -> IndexMap<String, Ended<T, E>>
where
    T: Clone,
    F: FnMut(String, Vec<(String, T)>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let selected: HashSet<&String> = order.iter().collect();
    let mut outcomes: HashMap<String, Ended<T, E>> = HashMap::new();
    let mut waiting: Vec<&String> = order.iter().collect();
    let mut running = FuturesUnordered::new();
    let mut cancel = std::pin::pin!(cancel.fuse());
    let jobs = jobs.max(1);

    loop {
        let mut index = 0;
        while index < waiting.len() && running.len() < jobs {
            let name = waiting[index];
            let needs: Vec<&String> = parents
                .get(name)
                .map(|p| p.iter().filter(|p| selected.contains(p)).collect())
                .unwrap_or_default();
            if let Some(because) = needs
                .iter()
                .find_map(|p| outcomes.get(*p).and_then(|o| o.blocker(p)))
            {
                outcomes.insert(name.clone(), Ended::NotAttempted { because });
                waiting.remove(index);
                continue;
            }
            let ready = needs
                .iter()
                .all(|p| matches!(outcomes.get(*p), Some(Ended::Done { .. })));
            if ready {
                let values: Vec<(String, T)> = needs
                    .iter()
                    .filter_map(|p| {
                        outcomes
                            .get(*p)
                            .and_then(Ended::value)
                            .map(|v| ((*p).clone(), v.clone()))
                    })
                    .collect();
                let future = work(name.clone(), values);
                let name = name.clone();
                running.push(async move {
                    let started = Instant::now();
                    let result = future.await;
                    (name, result, started.elapsed())
                });
                waiting.remove(index);
                continue;
            }
            index += 1;
        }
        if running.is_empty() {
            break;
        }
        futures_util::select! {
            finished = running.select_next_some() => {
                let (name, result, elapsed) = finished;
                let outcome = match result {
                    Ok(value) => Ended::Done { value, elapsed },
                    Err(error) => Ended::Failed { error, elapsed },
                };
                outcomes.insert(name, outcome);
            }
            _ = cancel => {
                // Dropping the futures cancels their requests to the daemon and the registries.
                drop(running);
                for name in order {
                    if !outcomes.contains_key(name) {
                        let interrupted = !waiting.contains(&name);
                        outcomes.insert(name.clone(), if interrupted {
                            Ended::Interrupted
                        } else {
                            Ended::NotAttempted { because: "interrupted".into() }
                        });
                    }
                }
                break;
            }
        }
    }
    order
        .iter()
        .map(|name| {
            let outcome = outcomes.remove(name).unwrap_or(Ended::NotAttempted {
                because: "a parent did not finish".into(),
            });
            (name.clone(), outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn dag() -> (Vec<String>, HashMap<String, Vec<String>>) {
        // a → b → c, a → d, e (independent)
        let order = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let parents = HashMap::from([
            ("b".to_string(), vec!["a".to_string()]),
            ("c".to_string(), vec!["b".to_string()]),
            ("d".to_string(), vec!["a".to_string()]),
        ]);
        (order, parents)
    }

    #[tokio::test]
    async fn runs_ready_work_concurrently_within_the_bound() {
        let (order, parents) = dag();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let outcomes = run(
            &order,
            &parents,
            2,
            |name, parent_values| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    let from: Vec<String> = parent_values.into_iter().map(|(_, v)| v).collect();
                    Ok::<_, String>(format!("{name}<{}>", from.join(",")))
                }
            },
            std::future::pending(),
        )
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(outcomes["c"].value().unwrap(), "c<b<a<>>>");
        assert!(outcomes.values().all(|o| o.value().is_some()));
    }

    #[tokio::test]
    async fn a_failure_stops_its_dependents_only() {
        let (order, parents) = dag();
        let outcomes = run(
            &order,
            &parents,
            4,
            |name, _| async move {
                if name == "b" {
                    Err("boom".to_string())
                } else {
                    Ok(name)
                }
            },
            std::future::pending(),
        )
        .await;
        assert!(matches!(&outcomes["b"], Ended::Failed { error, .. } if error == "boom"));
        assert_eq!(
            outcomes["c"],
            Ended::NotAttempted {
                because: "b".into()
            }
        );
        assert!(
            outcomes["a"].value().is_some()
                && outcomes["d"].value().is_some()
                && outcomes["e"].value().is_some()
        );
    }

    #[tokio::test]
    async fn cancellation_interrupts_running_work_and_starts_nothing_more() {
        let (order, parents) = dag();
        let outcomes = run(
            &order,
            &parents,
            1,
            |name, _| async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<_, String>(name)
            },
            tokio::time::sleep(Duration::from_millis(20)),
        )
        .await;
        assert_eq!(outcomes["a"], Ended::Interrupted);
        assert!(matches!(outcomes["e"], Ended::NotAttempted { .. }));
    }
}
