//! The watcher: discovers the cgroups holding processes (and the JVMs and Go programs among
//! them), samples their figures into a bounded history, registers the kernel notifications of
//! each cgroup with a memory limit, and turns notifications and samples into triggers.
//!
//! One thread, one epoll set. Between notifications a cgroup is sampled every
//! `sample_interval`; a cgroup whose usage is past the arming level (threshold − margin) is
//! "hot" and re-read every `hot_interval`, because v1 thresholds count page cache and the
//! working set that matters can cross the threshold without a new notification.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::{CaptureRecord, CaptureRequest, Capturer};
use crate::cgroupfs::{self, Layout, MemoryEventCounts, Version};
use crate::history::{Ring, Sample};
use crate::metrics::{CgroupSeries, Labels, Stats};
use crate::notify::{self, EventFd, Inotify, Poller, PsiTrigger};
use crate::procs::{Kind, ProcessScanner};
use crate::{Config, Error, unix_ms};

const INOTIFY_TOKEN: u64 = 0;
const KIND_ARM: u64 = 1;
const KIND_THRESHOLD: u64 = 2;
const KIND_OOM: u64 = 3;
const KIND_PSI: u64 = 4;

enum Registration {
    Event(#[allow(dead_code)] EventFd),
    Psi(#[allow(dead_code)] PsiTrigger),
}

struct Watched {
    path: String,
    memory_dir: PathBuf,
    cpu_dir: Option<PathBuf>,
    pressure_dir: Option<PathBuf>,
    labels: Labels,
    pids: Vec<u32>,
    jvm_pids: Vec<u32>,
    go_count: usize,
    history: Ring<Sample>,
    last_history_push: Option<Instant>,
    latest: Sample,
    oom_kills: Option<u64>,
    registrations: HashMap<u64, Registration>,
    inotify_wd: Option<i32>,
    /// The limit the notifications were last registered for (`Some(None)`: no limit).
    registered_limit: Option<Option<u64>>,
    next_sample: Instant,
    last_cpu: Option<(u64, u64)>,
    last_events: Option<MemoryEventCounts>,
    above_threshold: bool,
    last_capture: Option<Instant>,
    retry: Option<(&'static str, Instant, Instant)>,
    last_refusal: Option<&'static str>,
    netns: Option<u64>,
    /// Usage is past the arming level: re-read every `hot_interval`, exactly on time.
    hot: bool,
}

/// The watcher's state.
pub struct Watcher {
    config: Config,
    layout: Layout,
    poller: Poller,
    inotify: Option<Inotify>,
    scanner: ProcessScanner,
    watched: HashMap<u64, Watched>,
    by_path: HashMap<String, u64>,
    by_wd: HashMap<i32, u64>,
    next_id: u64,
    stats: Arc<Mutex<Stats>>,
    capturer: Capturer,
    captures: Vec<std::thread::JoinHandle<CaptureRecord>>,
    finished: Vec<CaptureRecord>,
    conntrack_cache: HashMap<u64, (Option<u64>, Option<u64>)>,
    known_pids: std::collections::HashSet<u32>,
    namespace: crate::procs::CgroupNamespace,
    /// Something changed since the figures were last published.
    dirty: bool,
}

fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(|p| p.into_inner())
}

impl Watcher {
    pub fn new(
        config: Config,
        stats: Arc<Mutex<Stats>>,
        capturer: Capturer,
    ) -> Result<Self, Error> {
        let layout =
            cgroupfs::detect_layout(&config.cgroup_root).ok_or_else(|| Error::NoCgroups {
                root: config.cgroup_root.clone(),
            })?;
        tracing::info!(version = ?layout.version, memory = %layout.memory_root.display(), "cgroup layout");
        let namespace = crate::procs::CgroupNamespace::detect(
            &config.proc_root,
            &layout.memory_root,
            layout.version,
            config.max_cgroups,
        );
        let poller = Poller::new().map_err(|source| Error::Setup {
            what: "creating the epoll set",
            source,
        })?;
        let inotify = if layout.version == Version::V2 {
            let ino = Inotify::new().map_err(|source| Error::Setup {
                what: "creating the inotify instance",
                source,
            })?;
            poller
                .add(std::os::fd::AsRawFd::as_raw_fd(&ino), INOTIFY_TOKEN, false)
                .map_err(|source| Error::Setup {
                    what: "watching inotify",
                    source,
                })?;
            Some(ino)
        } else {
            None
        };
        Ok(Watcher {
            config,
            layout,
            poller,
            inotify,
            scanner: ProcessScanner::default(),
            watched: HashMap::new(),
            by_path: HashMap::new(),
            by_wd: HashMap::new(),
            next_id: 1,
            stats,
            capturer,
            captures: Vec::new(),
            finished: Vec::new(),
            conntrack_cache: HashMap::new(),
            known_pids: Default::default(),
            namespace,
            dirty: true,
        })
    }

    /// Run until `stop` is set or `exit_after` passed; returns the finished captures.
    pub fn run(mut self, stop: &AtomicBool) -> Vec<CaptureRecord> {
        let started = Instant::now();
        let mut next_discovery = Instant::now();
        loop {
            if stop.load(Ordering::SeqCst)
                || self
                    .config
                    .exit_after
                    .is_some_and(|d| started.elapsed() >= d)
            {
                break;
            }
            let now = Instant::now();
            if now >= next_discovery {
                self.discover();
                next_discovery = now + self.config.discovery_interval;
            }
            let now = Instant::now();
            // Regular samples due within the slack are taken now, so cgroups found at different
            // moments fall into step and the thread wakes once per round, not once per cgroup.
            let slack = (self.config.sample_interval / 5).min(Duration::from_secs(2));
            let due: Vec<u64> = self
                .watched
                .iter()
                .filter(|(_, w)| w.next_sample <= now + if w.hot { Duration::ZERO } else { slack })
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                self.sample(id, None);
            }
            self.reap_captures();
            self.publish();
            let next = self
                .watched
                .values()
                .map(|w| w.next_sample)
                .chain([next_discovery])
                .min()
                .unwrap_or(next_discovery);
            let timeout = next
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(500));
            let ready = match self.poller.wait(timeout) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "epoll_wait failed");
                    std::thread::sleep(timeout);
                    Vec::new()
                }
            };
            let woke = Instant::now();
            for event in ready {
                self.on_event(event, woke);
            }
        }
        // Let running captures finish: a finished capture is never lost.
        for handle in self.captures.drain(..) {
            if let Ok(record) = handle.join() {
                self.finished.push(record);
            }
        }
        self.publish();
        self.finished
    }

    fn reap_captures(&mut self) {
        let mut i = 0;
        while i < self.captures.len() {
            if self.captures[i].is_finished() {
                let handle = self.captures.swap_remove(i);
                match handle.join() {
                    Ok(record) => self.finished.push(record),
                    Err(_) => tracing::error!("a capture thread panicked"),
                }
                if self.finished.len() > 1000 {
                    self.finished.remove(0);
                }
            } else {
                i += 1;
            }
        }
    }

    fn on_event(&mut self, event: notify::Ready, woke: Instant) {
        if event.token == INOTIFY_TOKEN {
            let Some(ino) = &self.inotify else { return };
            let (fired, removed) = ino.read_events();
            for wd in removed {
                if let Some(id) = self.by_wd.remove(&wd)
                    && let Some(w) = self.watched.get_mut(&id)
                {
                    w.inotify_wd = None;
                }
            }
            let mut ids: Vec<u64> = fired
                .iter()
                .filter_map(|wd| self.by_wd.get(wd).copied())
                .collect();
            ids.dedup();
            for id in ids {
                self.sample(id, Some(("memory_events", woke)));
            }
            return;
        }
        let id = event.token >> 3;
        let kind = event.token & 7;
        let Some(w) = self.watched.get_mut(&id) else {
            return;
        };
        if let Some(Registration::Event(fd)) = w.registrations.get(&kind) {
            fd.drain();
        }
        if event.hangup {
            // The cgroup went away (or the trigger broke): drop the registration, re-check.
            if let Some(reg) = w.registrations.remove(&kind) {
                let fd = match &reg {
                    Registration::Event(e) => std::os::fd::AsRawFd::as_raw_fd(e),
                    Registration::Psi(p) => std::os::fd::AsRawFd::as_raw_fd(p),
                };
                self.poller.remove(fd);
            }
        }
        let reason = match kind {
            KIND_OOM => "oom",
            KIND_PSI => "memory_pressure",
            _ => "threshold",
        };
        self.sample(id, Some((reason, woke)));
    }

    /// Scan the processes, add new cgroups, drop those without processes.
    fn discover(&mut self) {
        let processes = self.scanner.scan(
            &self.config.proc_root,
            self.layout.version,
            &self.namespace,
            self.config.max_processes,
        );
        let mut groups: HashMap<String, Vec<&crate::procs::ProcessInfo>> = HashMap::new();
        for p in &processes {
            if p.cgroup == "/" {
                continue;
            }
            if !self.config.cgroup_prefixes.is_empty()
                && !self
                    .config
                    .cgroup_prefixes
                    .iter()
                    .any(|prefix| p.cgroup.starts_with(prefix.as_str()))
            {
                continue;
            }
            groups.entry(p.cgroup.clone()).or_default().push(p);
        }
        let alive: std::collections::HashSet<u32> = processes.iter().map(|p| p.pid).collect();
        for gone in self.known_pids.difference(&alive) {
            self.capturer.forget(*gone);
        }
        self.known_pids = alive;
        self.conntrack_cache.clear();
        // Removed cgroups and cgroups whose processes all exited.
        let stale: Vec<u64> = self
            .watched
            .iter()
            .filter(|(_, w)| !groups.contains_key(&w.path) || !w.memory_dir.is_dir())
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.remove(id, "no processes left");
        }
        let mut paths: Vec<&String> = groups.keys().collect();
        paths.sort();
        let mut truncated = 0usize;
        for path in paths {
            let members = &groups[path];
            let id = match self.by_path.get(path) {
                Some(id) => *id,
                None => {
                    if self.watched.len() >= self.config.max_cgroups {
                        truncated += 1;
                        continue;
                    }
                    self.add(path, members)
                }
            };
            if let Some(w) = self.watched.get_mut(&id) {
                w.pids = members.iter().map(|p| p.pid).collect();
                w.jvm_pids = members
                    .iter()
                    .filter(|p| p.kind == Kind::Jvm)
                    .map(|p| p.pid)
                    .collect();
                w.go_count = members.iter().filter(|p| p.kind == Kind::Go).count();
            }
        }
        if truncated > 0 {
            tracing::warn!(
                truncated,
                limit = self.config.max_cgroups,
                "more cgroups than --max-cgroups; the rest are not watched"
            );
        }
        self.dirty = true;
        let mut stats = lock(&self.stats);
        stats.watched_cgroups = self.watched.len();
        stats.watched_jvms = self.watched.values().map(|w| w.jvm_pids.len()).sum();
        stats.watched_go = self.watched.values().map(|w| w.go_count).sum();
    }

    fn add(&mut self, path: &str, members: &[&crate::procs::ProcessInfo]) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let memory_dir = cgroupfs::dir_under(&self.layout.memory_root, path);
        let cpu_dir = self
            .layout
            .cpu_root
            .as_ref()
            .map(|root| {
                let cpu_path = members
                    .iter()
                    .find_map(|p| p.cpu_cgroup.clone())
                    .unwrap_or_else(|| path.to_string());
                cgroupfs::dir_under(root, &cpu_path)
            })
            .filter(|d| d.join("cpu.stat").is_file());
        let pressure_dir = self
            .layout
            .unified_root
            .as_ref()
            .map(|root| {
                let unified = members
                    .iter()
                    .find_map(|p| p.unified_cgroup.clone())
                    .unwrap_or_else(|| path.to_string());
                (unified, root)
            })
            .filter(|(unified, _)| unified != "/")
            .map(|(unified, root)| cgroupfs::dir_under(root, &unified))
            .filter(|d| d.join("memory.pressure").is_file());
        let identity = hostprobe::cgroup_path::parse_container_identity(path);
        let names = identity
            .as_ref()
            .and_then(|i| i.container_id.as_deref())
            .and_then(|cid| crate::procs::container_names(&self.config.runtime_root, cid))
            .unwrap_or_default();
        let labels = Labels {
            cgroup: path.to_string(),
            namespace: names.namespace,
            pod: names.pod,
            container: names.container,
            pod_uid: identity.as_ref().and_then(|i| i.pod_uid.clone()),
            container_id: identity.as_ref().and_then(|i| i.container_id.clone()),
        };
        tracing::debug!(cgroup = path, "watching");
        self.watched.insert(
            id,
            Watched {
                path: path.to_string(),
                memory_dir,
                cpu_dir,
                pressure_dir,
                labels,
                pids: Vec::new(),
                jvm_pids: Vec::new(),
                go_count: 0,
                history: Ring::new(self.config.history_len),
                last_history_push: None,
                latest: Sample::default(),
                oom_kills: None,
                registrations: HashMap::new(),
                inotify_wd: None,
                registered_limit: None,
                next_sample: Instant::now(),
                last_cpu: None,
                last_events: None,
                above_threshold: false,
                last_capture: None,
                retry: None,
                last_refusal: None,
                netns: members
                    .first()
                    .and_then(|p| netns_of(&self.config.proc_root, p.pid)),
                hot: false,
            },
        );
        self.by_path.insert(path.to_string(), id);
        id
    }

    fn remove(&mut self, id: u64, why: &str) {
        if let Some(w) = self.watched.remove(&id) {
            self.dirty = true;
            tracing::info!(cgroup = %w.path, why, "no longer watching");
            self.by_path.remove(&w.path);
            if let (Some(wd), Some(ino)) = (w.inotify_wd, &self.inotify) {
                ino.unwatch(wd);
                self.by_wd.remove(&wd);
            }
            // Dropping the registrations closes the descriptors, which unregisters them.
        }
    }

    fn registration_failed(&self, kind: &'static str, path: &str, e: &std::io::Error) {
        tracing::warn!(cgroup = path, kind, error = %e, "could not register a kernel notification; the cgroup is still sampled");
        *lock(&self.stats)
            .registration_failures
            .entry(kind)
            .or_default() += 1;
    }

    /// (Re-)register the notifications of `id` for its current limit.
    fn register(&mut self, id: u64, limit: Option<u64>) {
        let Some(w) = self.watched.get(&id) else {
            return;
        };
        // Once per limit: a registration the kernel refused (read-only cgroupfs, no PSI) is not
        // retried at every sample, which would flood the log of a cgroup re-read every 100 ms.
        if w.registered_limit == Some(limit) {
            return;
        }
        let path = w.path.clone();
        let memory_dir = w.memory_dir.clone();
        let pressure_dir = w.pressure_dir.clone();
        let had_wd = w.inotify_wd.is_some();
        let mut registrations: HashMap<u64, Registration> = HashMap::new();
        let mut failures = Vec::new();
        if let Some(limit) = limit {
            if self.layout.version == Version::V1 {
                let threshold = (limit as f64 * self.config.threshold) as u64;
                let arm = (limit as f64 * self.config.arm_ratio()) as u64;
                for (kind, bytes) in [(KIND_ARM, arm), (KIND_THRESHOLD, threshold)] {
                    match notify::register_v1_threshold(&memory_dir, bytes) {
                        Ok(fd) => {
                            registrations.insert(kind, Registration::Event(fd));
                        }
                        Err(e) => failures.push(("v1_threshold", e)),
                    }
                }
                match notify::register_v1_oom(&memory_dir) {
                    Ok(fd) => {
                        registrations.insert(KIND_OOM, Registration::Event(fd));
                    }
                    Err(e) => failures.push(("v1_oom", e)),
                }
            }
            if let (Some(dir), Some((stall, window))) = (&pressure_dir, self.config.psi) {
                match notify::register_psi_trigger(&dir.join("memory.pressure"), stall, window) {
                    Ok(t) => {
                        registrations.insert(KIND_PSI, Registration::Psi(t));
                    }
                    Err(e) => failures.push(("psi", e)),
                }
            }
        }
        let mut wd = None;
        if self.layout.version == Version::V2
            && limit.is_some()
            && !had_wd
            && let Some(ino) = &self.inotify
        {
            match ino.watch_modify(&memory_dir.join("memory.events")) {
                Ok(d) => wd = Some(d),
                Err(e) => failures.push(("memory_events", e)),
            }
        }
        for (kind, e) in &failures {
            self.registration_failed(kind, &path, e);
        }
        for (kind, reg) in &registrations {
            let (fd, priority) = match reg {
                Registration::Event(e) => (std::os::fd::AsRawFd::as_raw_fd(e), false),
                Registration::Psi(p) => (std::os::fd::AsRawFd::as_raw_fd(p), true),
            };
            if let Err(e) = self.poller.add(fd, (id << 3) | kind, priority) {
                self.registration_failed("epoll", &path, &e);
            }
        }
        if let Some(d) = wd {
            self.by_wd.insert(d, id);
        }
        if let Some(w) = self.watched.get_mut(&id) {
            w.registrations = registrations;
            w.registered_limit = Some(limit);
            if wd.is_some() {
                w.inotify_wd = wd;
            }
        }
    }

    fn conntrack_of(&mut self, pid: Option<u32>, netns: Option<u64>) -> (Option<u64>, Option<u64>) {
        let (Some(pid), Some(ns)) = (pid, netns) else {
            return (None, None);
        };
        if let Some(v) = self.conntrack_cache.get(&ns) {
            return *v;
        }
        let mut src = hostprobe::Sources::new(
            hostprobe::Root::new(
                self.config
                    .proc_root
                    .parent()
                    .unwrap_or(&self.config.proc_root),
            ),
            hostprobe::Limits::default(),
            false,
        );
        let value = hostprobe::conntrack::read_conntrack(&mut src, Some(pid))
            .ok()
            .filter(|c| c.loaded)
            .map(|c| (c.count, c.max))
            .unwrap_or((None, None));
        self.conntrack_cache.insert(ns, value);
        value
    }

    /// Read cgroup `id`, record it, and fire what should fire. `notified`: the notification that
    /// asked for this reading and when it arrived.
    fn sample(&mut self, id: u64, notified: Option<(&'static str, Instant)>) {
        let Some(w) = self.watched.get(&id) else {
            return;
        };
        let memory = match cgroupfs::read_memory(self.layout.version, &w.memory_dir) {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.remove(id, "the cgroup was removed");
                return;
            }
            Err(e) => {
                tracing::warn!(cgroup = %w.path, error = %e, "reading the memory cgroup failed");
                if let Some(w) = self.watched.get_mut(&id) {
                    w.next_sample = Instant::now() + self.config.sample_interval;
                }
                return;
            }
        };
        let now = Instant::now();
        // A regular sample (not a notification, not a fast re-read of a hot cgroup) also reads
        // the CPU and conntrack figures and goes into the history.
        let regular = notified.is_none()
            && w.last_history_push
                .is_none_or(|t| now.duration_since(t) >= self.config.sample_interval);
        let cpu = w
            .cpu_dir
            .as_ref()
            .filter(|_| regular)
            .and_then(|d| cgroupfs::read_cpu(self.layout.version, d));
        let pressure = w
            .pressure_dir
            .as_ref()
            .and_then(|d| cgroupfs::read_memory_pressure(d));
        let events = if self.layout.version == Version::V2 {
            cgroupfs::read_memory_events(&w.memory_dir)
        } else {
            None
        };
        let pid = w.pids.first().copied();
        let netns = w.netns;
        let limit = memory.limit_bytes;
        let conntrack = if regular {
            self.conntrack_of(pid, netns)
        } else {
            (None, None)
        };
        self.register(id, limit);

        let threshold = self.config.threshold;
        let arm_ratio = self.config.arm_ratio();
        let hot_interval = self.config.hot_interval;
        let sample_interval = self.config.sample_interval;
        let Some(w) = self.watched.get_mut(&id) else {
            return;
        };
        let throttled_ratio = match (&cpu, w.last_cpu) {
            (Some(c), Some((periods, throttled))) => match (c.nr_periods, c.nr_throttled) {
                (Some(p), Some(t)) if p > periods => {
                    Some(t.saturating_sub(throttled) as f64 / (p - periods) as f64)
                }
                (Some(_), Some(_)) => Some(0.0),
                _ => None,
            },
            _ => None,
        };
        if let Some(c) = &cpu
            && let (Some(p), Some(t)) = (c.nr_periods, c.nr_throttled)
        {
            w.last_cpu = Some((p, t));
        }
        let sample = Sample {
            at_unix_ms: unix_ms(),
            usage_bytes: memory.usage_bytes,
            working_set_bytes: memory.working_set_bytes,
            limit_bytes: limit,
            throttled_ratio: throttled_ratio.or(w.latest.throttled_ratio),
            memory_pressure_some_avg10: pressure.map(|p| p.some_avg10),
            conntrack_entries: conntrack.0.or(w.latest.conntrack_entries),
            conntrack_max: conntrack.1.or(w.latest.conntrack_max),
        };
        w.latest = sample;
        w.oom_kills = memory.oom_kills;
        self.dirty = true;
        if regular {
            w.history.push(sample);
            w.last_history_push = Some(now);
        }

        // Decide what fires.
        let mut fire: Vec<(&'static str, Instant)> = Vec::new();
        let at = notified.map(|(_, t)| t).unwrap_or(now);
        let ratio = sample.working_set_ratio();
        let above = ratio.is_some_and(|r| r >= threshold);
        if above && !w.above_threshold {
            fire.push(("working_set", at));
        }
        w.above_threshold = above;
        if let (Some(new), Some(old)) = (events, w.last_events) {
            if new.max > old.max {
                fire.push(("memory_events_max", at));
            } else if new.high > old.high {
                fire.push(("memory_events_high", at));
            }
        }
        if events.is_some() {
            w.last_events = events;
        }
        match notified {
            Some(("memory_pressure", t)) => fire.push(("memory_pressure", t)),
            Some(("oom", t)) => fire.push(("oom", t)),
            _ => {}
        }
        let armed_level = limit.is_some_and(|l| memory.usage_bytes as f64 >= l as f64 * arm_ratio);
        let jvm_pids = w.jvm_pids.clone();
        w.next_sample = now
            + if armed_level {
                hot_interval
            } else {
                sample_interval
            };
        w.hot = armed_level;
        let retry_due = w.retry.filter(|(_, _, due)| *due <= now);
        if armed_level {
            for pid in &jvm_pids {
                self.capturer.arm(*pid);
            }
        }
        for (reason, at) in fire {
            *lock(&self.stats).triggers.entry(reason).or_default() += 1;
            tracing::warn!(cgroup = %self.watched[&id].path, reason, working_set_ratio = ?ratio, "trigger fired");
            self.try_capture(id, reason, at);
        }
        if let Some((reason, at, _)) = retry_due
            && (above || armed_level)
        {
            self.try_capture(id, reason, at);
        } else if retry_due.is_some()
            && let Some(w) = self.watched.get_mut(&id)
        {
            w.retry = None;
        }
    }

    fn try_capture(&mut self, id: u64, reason: &'static str, at: Instant) {
        let cooldown = self.config.cooldown;
        let Some(w) = self.watched.get_mut(&id) else {
            return;
        };
        if w.last_capture.is_some_and(|t| t.elapsed() < cooldown) {
            *lock(&self.stats).refusals.entry("cooldown").or_default() += 1;
            tracing::info!(cgroup = %w.path, reason, "trigger ignored: this container was captured less than --cooldown ago");
            w.retry = None;
            return;
        }
        if w.pids.is_empty() {
            return;
        }
        let request = CaptureRequest {
            cgroup: w.path.clone(),
            labels: w.labels.clone(),
            jvm_pids: w.jvm_pids.clone(),
            snapshot_pid: w.jvm_pids.first().or(w.pids.first()).copied(),
            reason,
            triggered_at: at,
            working_set_bytes: w.latest.working_set_bytes,
            limit_bytes: w.latest.limit_bytes,
            memory_dir: Some((self.layout.version, w.memory_dir.clone())),
            history: {
                let mut h: Vec<Sample> = w.history.iter().copied().collect();
                if h.last() != Some(&w.latest) {
                    h.push(w.latest);
                }
                h
            },
        };
        match self.capturer.start(request) {
            Ok(handle) => {
                w.last_capture = Some(Instant::now());
                w.retry = None;
                w.last_refusal = None;
                self.captures.push(handle);
            }
            Err(refusal) => {
                *lock(&self.stats)
                    .refusals
                    .entry(refusal.label())
                    .or_default() += 1;
                if w.last_refusal != Some(refusal.label()) {
                    tracing::warn!(cgroup = %w.path, reason, error = %refusal, "capture refused; retrying while the condition holds");
                }
                w.last_refusal = Some(refusal.label());
                w.retry = Some((reason, at, Instant::now() + Duration::from_secs(1)));
            }
        }
    }

    fn publish(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            lock(&self.stats).last_pass_unix_ms = unix_ms();
            return;
        }
        let mut series: Vec<CgroupSeries> = self
            .watched
            .values()
            // Not read yet: nothing to show rather than zeros.
            .filter(|w| w.latest.at_unix_ms > 0)
            .map(|w| CgroupSeries {
                labels: w.labels.clone(),
                latest: w.latest,
                oom_kills: w.oom_kills,
                jvm_processes: w.jvm_pids.len(),
                go_processes: w.go_count,
            })
            .collect();
        series.sort_by(|a, b| a.labels.cgroup.cmp(&b.labels.cgroup));
        let mut stats = lock(&self.stats);
        stats.cgroups = series;
        stats.watched_cgroups = self.watched.len();
        stats.last_pass_unix_ms = unix_ms();
    }
}

fn netns_of(proc_root: &std::path::Path, pid: u32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(proc_root.join(pid.to_string()).join("ns/net"))
        .ok()
        .map(|m| m.ino())
}
