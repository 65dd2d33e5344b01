//! The Docker daemons one run builds on, each with its own number of slots. Builds are location-free
//! (every parent comes from the private registry by digest), so an image may go to any daemon with a
//! free slot; it goes to the one that built its parent when that one has a slot free, since that
//! daemon already holds the parent's layers.

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::docker::{Builder as Engine, Daemon};

/// One daemon of the pool.
pub(crate) struct Member {
    /// How reports, progress and logs name it: its address. (Not a label: build machines'
    /// addresses stay out of images, and an image's labels do not depend on where it was built.)
    pub name: String,
    pub daemon: Daemon,
    /// BuildKit or the classic builder, as chosen for this daemon.
    pub engine: Engine,
    /// The platforms it builds natively: as `builders:` declares them, else the daemon's own.
    pub platforms: Vec<String>,
    slots: Semaphore,
    capacity: usize,
}

impl Member {
    pub(crate) fn new(
        daemon: Daemon,
        engine: Engine,
        slots: usize,
        platforms: Vec<String>,
    ) -> Member {
        let platforms = match platforms.is_empty() {
            true => vec![daemon.platform.clone()],
            false => platforms,
        };
        Member {
            name: daemon.address.clone(),
            daemon,
            engine,
            platforms,
            slots: Semaphore::new(slots.max(1)),
            capacity: slots.max(1),
        }
    }
}

pub(crate) struct Pool {
    pub members: Vec<Member>,
    /// Members that stopped answering during the run: no image is given to them any more.
    lost: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// A slot on one member, held while an image builds, is checked and is pushed there.
pub(crate) struct Lease<'a> {
    pub member: &'a Member,
    _slot: SemaphorePermit<'a>,
}

impl Pool {
    pub(crate) fn new(members: Vec<Member>) -> Pool {
        Pool {
            members,
            lost: Default::default(),
        }
    }

    /// Takes a member that stopped answering out of the pool. Returns whether another one is left.
    pub(crate) fn lose(&self, name: &str) -> bool {
        let mut lost = self.lost.lock().expect("not poisoned");
        lost.insert(name.to_string());
        self.members.iter().any(|m| !lost.contains(&m.name))
    }

    /// Whether `member` builds `platform` natively.
    fn native(member: &Member, platform: &str) -> bool {
        member
            .platforms
            .iter()
            .any(|p| crate::platform::matches(p, platform) || crate::platform::matches(platform, p))
    }

    fn answering(&self) -> Vec<&Member> {
        let lost = self.lost.lock().expect("not poisoned");
        let answering: Vec<&Member> = self
            .members
            .iter()
            .filter(|m| !lost.contains(&m.name))
            .collect();
        if answering.is_empty() {
            self.members.iter().collect()
        } else {
            answering
        }
    }

    /// How many images the pool builds at once: every member's slots.
    pub(crate) fn slots(&self) -> usize {
        self.members.iter().map(|m| m.capacity).sum()
    }

    /// The member named `name`, or the first one.
    pub(crate) fn member(&self, name: Option<&str>) -> &Member {
        name.and_then(|name| self.members.iter().find(|m| m.name == name))
            .unwrap_or(&self.members[0])
    }

    /// A slot for one image built for `platform` (`None`: any daemon's own): among the daemons that
    /// build that platform natively when there are any, on `preferred` (the daemon that built its
    /// parent) when it has one free, else on the member with the most free slots, else the first
    /// that frees one.
    pub(crate) async fn lease(&self, preferred: Option<&str>, platform: Option<&str>) -> Lease<'_> {
        let mut answering = self.answering();
        if let Some(platform) = platform {
            let native: Vec<&Member> = answering
                .iter()
                .copied()
                .filter(|m| Pool::native(m, platform))
                .collect();
            if !native.is_empty() {
                answering = native;
            }
        }
        let preferred = answering
            .iter()
            .find(|m| Some(m.name.as_str()) == preferred)
            .copied();
        let mut order: Vec<&Member> = preferred.into_iter().collect();
        let mut others = answering.clone();
        others.sort_by_key(|m| std::cmp::Reverse(m.slots.available_permits()));
        order.extend(others);
        for member in &order {
            if let Ok(slot) = member.slots.try_acquire() {
                return Lease {
                    member,
                    _slot: slot,
                };
            }
        }
        let waits = answering.into_iter().map(|member| {
            Box::pin(async move {
                let slot = member.slots.acquire().await.expect("never closed");
                Lease {
                    member,
                    _slot: slot,
                }
            })
        });
        futures_util::future::select_all(waits).await.0
    }
}
