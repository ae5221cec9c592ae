//! A bounded history of samples per cgroup: a ring that drops the oldest sample when full, so
//! memory stays flat however long the agent runs (`capacity × cgroups × size_of::<Sample>()`).

use std::collections::VecDeque;

/// One reading of one cgroup's signals.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    pub usage_bytes: u64,
    pub working_set_bytes: u64,
    pub limit_bytes: Option<u64>,
    /// Δ nr_throttled / Δ nr_periods since the previous sample (CFS quota throttling).
    pub throttled_ratio: Option<f64>,
    /// Memory PSI `some avg10` (percent).
    pub memory_pressure_some_avg10: Option<f64>,
    /// Entries in the conntrack table of the cgroup's network namespace.
    pub conntrack_entries: Option<u64>,
    /// `nf_conntrack_max` (global).
    pub conntrack_max: Option<u64>,
}

impl Sample {
    /// working set / limit, when there is a limit.
    pub fn working_set_ratio(&self) -> Option<f64> {
        self.limit_bytes
            .filter(|&l| l > 0)
            .map(|l| self.working_set_bytes as f64 / l as f64)
    }
}

/// A fixed-capacity ring of samples, oldest first.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Append, dropping the oldest when full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    pub fn latest(&self) -> Option<&T> {
        self.items.back()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest() {
        let mut r = Ring::new(3);
        for i in 0..10 {
            r.push(i);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
        assert_eq!(r.latest(), Some(&9));
        let s = Sample {
            working_set_bytes: 90,
            limit_bytes: Some(100),
            ..Sample::default()
        };
        assert_eq!(s.working_set_ratio(), Some(0.9));
        assert_eq!(Sample::default().working_set_ratio(), None);
    }
}
